#include "broker/pki.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace zsp::broker {
namespace {

using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using X509ExtensionPtr =
    std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

// Certificates start a few minutes in the past so that a host whose clock
// is slightly behind accepts a fresh certificate.
constexpr int kSerialBits = 127;

std::string OpenSslError(const std::string& operation) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return operation + " failed";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return operation + " failed: " + text;
}

Result<EvpPkeyPtr> GenerateP256Key() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return Error{OpenSslError("P-256 key generation")};
  return key;
}

bool SetRandomSerial(X509* cert) {
  BignumPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), kSerialBits, BN_RAND_TOP_ANY,
                         BN_RAND_BOTTOM_ANY) != 1) {
    return false;
  }
  return BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) !=
         nullptr;
}

bool SetValidity(X509* cert, int days) {
  return X509_gmtime_adj(X509_getm_notBefore(cert), -kCertBackdateSeconds) !=
             nullptr &&
         X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, nullptr) !=
             nullptr;
}

bool SetSubjectName(X509* cert, const std::string& common_name) {
  X509_NAME* name = X509_get_subject_name(cert);
  return X509_NAME_add_entry_by_txt(
             name, "CN", MBSTRING_UTF8,
             reinterpret_cast<const unsigned char*>(common_name.c_str()),
             static_cast<int>(common_name.size()), -1, 0) == 1;
}

// Adds one X509v3 extension in openssl.cnf syntax, e.g. "critical,CA:TRUE".
bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr extension(
      X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  return extension && X509_add_ext(cert, extension.get(), -1) == 1;
}

// Creates a certificate for key with the fields every zsp certificate has.
Result<X509Ptr> NewCertificate(EVP_PKEY* key, const std::string& common_name,
                               int days) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      !SetRandomSerial(cert.get()) || !SetValidity(cert.get(), days) ||
      !SetSubjectName(cert.get(), common_name) ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return Error{OpenSslError("building the certificate for " + common_name)};
  }
  return cert;
}

// X509_sign returns the signature size, so success is a positive value.
bool Sign(X509* cert, EVP_PKEY* key) {
  return X509_sign(cert, key, EVP_sha256()) > 0;
}

std::string JoinWithCommas(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) {
    if (!joined.empty()) joined += ',';
    joined += item;
  }
  return joined;
}

Result<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return Error{"empty PEM output"};
  return std::string(data, static_cast<size_t>(size));
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Result<KeyAndCert> CreateCa(const std::string& common_name, int days) {
  auto key = GenerateP256Key();
  if (!key.ok()) return Error{key.error()};
  auto cert = NewCertificate(key.value().get(), common_name, days);
  if (!cert.ok()) return Error{cert.error()};
  X509* x = cert.value().get();
  if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
      !AddExtension(x, x, NID_basic_constraints,
                    "critical,CA:TRUE,pathlen:0") ||
      !AddExtension(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !AddExtension(x, x, NID_subject_key_identifier, "hash") ||
      !AddExtension(x, x, NID_authority_key_identifier, "keyid:always") ||
      !Sign(x, key.value().get())) {
    return Error{OpenSslError("creating the CA certificate")};
  }
  return KeyAndCert{std::move(key).value(), std::move(cert).value()};
}

Result<KeyAndCert> IssueCert(const KeyAndCert& ca,
                             const std::string& common_name, CertUse use,
                             const std::vector<std::string>& subject_alt_names,
                             int days) {
  auto key = GenerateP256Key();
  if (!key.ok()) return Error{key.error()};
  auto cert = NewCertificate(key.value().get(), common_name, days);
  if (!cert.ok()) return Error{cert.error()};
  X509* x = cert.value().get();
  X509* issuer = ca.cert.get();
  const char* usage = use == CertUse::kServer ? "serverAuth" : "clientAuth";
  bool ok =
      X509_set_issuer_name(x, X509_get_subject_name(issuer)) == 1 &&
      AddExtension(x, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
      AddExtension(x, issuer, NID_key_usage, "critical,digitalSignature") &&
      AddExtension(x, issuer, NID_ext_key_usage, usage) &&
      AddExtension(x, issuer, NID_subject_key_identifier, "hash") &&
      AddExtension(x, issuer, NID_authority_key_identifier, "keyid:always");
  if (ok && !subject_alt_names.empty()) {
    ok = AddExtension(x, issuer, NID_subject_alt_name,
                      JoinWithCommas(subject_alt_names));
  }
  if (!ok || !Sign(x, ca.key.get())) {
    return Error{OpenSslError("issuing the certificate for " + common_name)};
  }
  return KeyAndCert{std::move(key).value(), std::move(cert).value()};
}

Result<EvpPkeyPtr> GenerateEd25519Key() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return Error{OpenSslError("Ed25519 key generation")};
  return key;
}

Result<std::string> PrivateKeyPem(EVP_PKEY* key) {
  // Secure memory is cleared when the BIO is freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                       nullptr, nullptr) != 1) {
    return Error{OpenSslError("encoding the private key")};
  }
  return BioContents(bio.get());
}

Result<std::string> PublicKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    return Error{OpenSslError("encoding the public key")};
  }
  return BioContents(bio.get());
}

Result<std::string> CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return Error{OpenSslError("encoding the certificate")};
  }
  return BioContents(bio.get());
}

Result<KeyAndCert> LoadCa(const std::string& cert_path,
                          const std::string& key_path) {
  BioPtr cert_bio(BIO_new_file(cert_path.c_str(), "r"));
  X509Ptr cert(
      cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)
               : nullptr);
  if (!cert) return Error{OpenSslError("reading " + cert_path)};
  BioPtr key_bio(BIO_new_file(key_path.c_str(), "r"));
  EvpPkeyPtr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr,
                                                   nullptr, nullptr)
                         : nullptr);
  if (!key) return Error{OpenSslError("reading " + key_path)};
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Error{key_path + " does not belong to " + cert_path};
  }
  return KeyAndCert{std::move(key), std::move(cert)};
}

Result<bool> WriteNewFile(const std::string& path, const std::string& data,
                          mode_t mode) {
  std::string temp = path + ".tmp" + std::to_string(getpid());
  UniqueFd fd(open(temp.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    return Error{"cannot create " + temp + ": " + strerror(errno)};
  }
  bool written = fchmod(fd.get(), mode) == 0 && WriteAll(fd.get(), data) &&
                 fsync(fd.get()) == 0;
  int saved_errno = errno;
  fd.Reset();
  if (!written) {
    unlink(temp.c_str());
    return Error{"cannot write " + temp + ": " + strerror(saved_errno)};
  }
  int linked = link(temp.c_str(), path.c_str());
  saved_errno = errno;
  unlink(temp.c_str());
  if (linked != 0) {
    return Error{"cannot create " + path + ": " + strerror(saved_errno)};
  }
  return true;
}

void WipeString(std::string* text) {
  OPENSSL_cleanse(text->data(), text->size());
  text->clear();
  text->shrink_to_fit();
}

}  // namespace zsp::broker
