// Keeps docs/broker-api.openapi.json and docs/broker-api.md in step with
// the routes the broker serves (Api::Routes). Run from the repository
// root, as make check does.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "broker/api.h"

namespace {

using nlohmann::json;
using zsp::broker::Api;

constexpr char kOpenApiPath[] = "docs/broker-api.openapi.json";
constexpr char kMarkdownPath[] = "docs/broker-api.md";

const char* const kHttpMethods[] = {"get",     "put",  "post",  "delete",
                                    "options", "head", "patch", "trace"};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string Upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  return text;
}

// (METHOD, path) of every route the broker serves.
std::set<std::pair<std::string, std::string>> ServedRoutes() {
  std::set<std::pair<std::string, std::string>> routes;
  for (const Api::Route& route : Api::Routes()) {
    routes.insert({route.method, route.pattern});
  }
  return routes;
}

class BrokerOpenApiTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(BrokerOpenApiTest);
  CPPUNIT_TEST(DocumentIsOpenApi3);
  CPPUNIT_TEST(EveryServedRouteDescribed);
  CPPUNIT_TEST(EveryDescribedRouteServed);
  CPPUNIT_TEST(MarkdownNamesEveryRoute);
  CPPUNIT_TEST_SUITE_END();

 public:
  void setUp() override {
    std::string text = ReadFile(kOpenApiPath);
    CPPUNIT_ASSERT_MESSAGE(std::string(kOpenApiPath) +
                               " not found; run unit_tests from the "
                               "repository root",
                           !text.empty());
    document_ = json::parse(text, nullptr, false);
    CPPUNIT_ASSERT_MESSAGE(std::string(kOpenApiPath) + " is not valid JSON",
                           !document_.is_discarded());
  }

  void DocumentIsOpenApi3() {
    CPPUNIT_ASSERT(document_.is_object());
    CPPUNIT_ASSERT(document_.value("openapi", "").rfind("3.", 0) == 0);
    CPPUNIT_ASSERT(document_.contains("info"));
    CPPUNIT_ASSERT(document_["paths"].is_object());
    for (const auto& [path, item] : document_["paths"].items()) {
      for (const char* method : kHttpMethods) {
        if (!item.contains(method)) continue;
        CPPUNIT_ASSERT_MESSAGE(
            Upper(method) + " " + path + ": has no responses in " +
                kOpenApiPath,
            item[method].contains("responses"));
      }
    }
  }

  void EveryServedRouteDescribed() {
    std::string missing;
    const json& paths = document_["paths"];
    for (const auto& [method, path] : ServedRoutes()) {
      if (paths.contains(path) && paths[path].contains(Lower(method))) {
        continue;
      }
      missing += "\n  " + method + " " + path;
    }
    CPPUNIT_ASSERT_MESSAGE(
        "routes served by the broker (Api::kRoutes in broker/api.cc) but "
        "missing from " +
            std::string(kOpenApiPath) +
            "; describe each under \"paths\" with its method:" + missing,
        missing.empty());
  }

  void EveryDescribedRouteServed() {
    std::string extra;
    std::set<std::pair<std::string, std::string>> served = ServedRoutes();
    for (const auto& [path, item] : document_["paths"].items()) {
      for (const char* method : kHttpMethods) {
        if (!item.contains(method)) continue;
        if (served.count({Upper(method), path}) == 0) {
          extra += "\n  " + Upper(method) + " " + path;
        }
      }
    }
    CPPUNIT_ASSERT_MESSAGE(
        "routes described in " + std::string(kOpenApiPath) +
            " that the broker does not serve (Api::kRoutes in "
            "broker/api.cc); remove them or add the route:" +
            extra,
        extra.empty());
  }

  // The prose names paths with descriptive segment names ("{name}"), so
  // any "{word}" stands for the route's "{id}".
  void MarkdownNamesEveryRoute() {
    std::string markdown = ReadFile(kMarkdownPath);
    CPPUNIT_ASSERT_MESSAGE(std::string(kMarkdownPath) + " not found",
                           !markdown.empty());
    std::string missing;
    for (const auto& [method, path] : ServedRoutes()) {
      std::string pattern = method + " ";
      for (size_t i = 0; i < path.size(); ++i) {
        if (path.compare(i, 4, "{id}") == 0) {
          pattern += "\\{[a-z_]+\\}";
          i += 3;
        } else if (std::string_view(".^$|()[]{}*+?\\").find(path[i]) !=
                   std::string_view::npos) {
          pattern += std::string("\\") + path[i];
        } else {
          pattern += path[i];
        }
      }
      // The path must end there, so that /v1/requests is not found only
      // as the start of /v1/requests/{id}.
      pattern += "([^/{a-z_]|$)";
      if (!std::regex_search(markdown, std::regex(pattern))) {
        missing += "\n  " + method + " " + path;
      }
    }
    CPPUNIT_ASSERT_MESSAGE(
        "routes served by the broker but not named in " +
            std::string(kMarkdownPath) +
            " as \"METHOD PATH\"; document each:" + missing,
        missing.empty());
  }

 private:
  json document_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(BrokerOpenApiTest);

}  // namespace
