#include "broker/ids.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/base64url.h"

namespace zsp::broker {
namespace {

std::string ToHex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 15];
  }
  return hex;
}

}  // namespace

Result<std::string> NewId(std::string_view prefix) {
  unsigned char bytes[6];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return Error{"RAND_bytes failed"};
  }
  return std::string(prefix) + ToHex(bytes, sizeof bytes);
}

Result<std::string> NewToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return Error{"RAND_bytes failed"};
  }
  std::string token =
      kTokenPrefix + Base64UrlEncode(std::string_view(
                         reinterpret_cast<char*>(bytes), sizeof bytes));
  OPENSSL_cleanse(bytes, sizeof bytes);
  return token;
}

}  // namespace zsp::broker
