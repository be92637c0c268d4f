// The broker's keys and certificates, made with the OpenSSL 3 API: an
// ECDSA P-256 CA, server and host certificates it issues, and the Ed25519
// key that signs decisions.
#ifndef ZSP_BROKER_PKI_H_
#define ZSP_BROKER_PKI_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/handles.h"
#include "common/result.h"

namespace zsp::broker {

inline constexpr int kCaDays = 3650;
inline constexpr int kServerCertDays = 825;
inline constexpr int kHostCertDays = 365;
// Issued certificates start this many seconds before their issue time, to
// allow for clock skew between the broker and its hosts.
inline constexpr long kCertBackdateSeconds = 300;

struct KeyAndCert {
  EvpPkeyPtr key;
  X509Ptr cert;
};

enum class CertUse { kServer, kClient };

// A self-signed CA certificate with a new P-256 key.
Result<KeyAndCert> CreateCa(const std::string& common_name, int days);

// A new P-256 key and a certificate for it, signed by ca. kServer gets the
// serverAuth EKU and subject_alt_names ("DNS:name" or "IP:addr"); kClient
// gets clientAuth.
Result<KeyAndCert> IssueCert(const KeyAndCert& ca,
                             const std::string& common_name, CertUse use,
                             const std::vector<std::string>& subject_alt_names,
                             int days);

Result<EvpPkeyPtr> GenerateEd25519Key();

// PEM encodings. Private keys are PKCS#8 without encryption.
Result<std::string> PrivateKeyPem(EVP_PKEY* key);
Result<std::string> PublicKeyPem(EVP_PKEY* key);
Result<std::string> CertificatePem(X509* cert);

// Loads the CA certificate and key written by CreateCa.
Result<KeyAndCert> LoadCa(const std::string& cert_path,
                          const std::string& key_path);

// Writes data to a new file with mode, atomically: a temporary file is
// written and synced, then linked to path. Fails if path exists.
Result<bool> WriteNewFile(const std::string& path, const std::string& data,
                          mode_t mode);

// Overwrites and frees a string holding key material.
void WipeString(std::string* text);

}  // namespace zsp::broker

#endif  // ZSP_BROKER_PKI_H_
