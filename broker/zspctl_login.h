// zspctl login: signs a person in through an OpenID Connect provider that
// the broker trusts, with the device authorization grant (RFC 8628), and
// keeps the short-lived ID token in a file that only the user can read.
#ifndef ZSP_BROKER_ZSPCTL_LOGIN_H_
#define ZSP_BROKER_ZSPCTL_LOGIN_H_

#include <cstdint>
#include <string>
#include <vector>

namespace zsp::zspctl {

struct LoginSettings {
  std::string broker_url;  // without a trailing '/'
  std::string ca_file;     // CA of the broker
  std::string token_file;  // where the token goes
};

// Runs "zspctl login ARGS" and returns the exit status.
int RunLogin(const LoginSettings& settings,
             const std::vector<std::string>& args);

// The token file that login writes when no --token-file is given:
// $HOME/.config/zsp/oidc-token, or "" without HOME.
std::string DefaultLoginTokenFile();

// Writes token to path with mode 0600 through a temporary file and
// rename(2). Rejects a path that is a symbolic link. Throws on failure.
void WriteTokenFile(const std::string& path, const std::string& token);

// The "exp" claim of a JWT without checking its signature, or 0 when
// token is not a JWT or has none. zspctl uses it only to say early that
// a sign-in has expired; the broker checks the token.
int64_t UnverifiedJwtExpiry(const std::string& token);

// The help lines of the login command.
extern const char kLoginHelp[];

}  // namespace zsp::zspctl

#endif  // ZSP_BROKER_ZSPCTL_LOGIN_H_
