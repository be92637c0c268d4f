// Tests for broker/zspctl_words.h: how zspctl splits the words after a
// command name and which command lines it rejects.
#include "broker/zspctl_words.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <utility>
#include <vector>

using zsp::zspctl::CommandWords;
using zsp::zspctl::ParseCommandWords;
using zsp::zspctl::UsageException;
using zsp::zspctl::WordRules;

namespace {

using Args = std::vector<std::string>;

WordRules Rules(std::vector<std::string> values,
                std::vector<std::string> flags) {
  WordRules rules;
  rules.value_options = std::move(values);
  rules.flag_options = std::move(flags);
  return rules;
}

// Returns the message of the UsageException that parsing args throws, or
// "" when parsing succeeds.
std::string UsageError(const Args& args, size_t first,
                       const WordRules& rules) {
  try {
    ParseCommandWords(args, first, rules);
  } catch (const UsageException& error) {
    return error.what();
  }
  return "";
}

}  // namespace

class ZspctlWordsTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ZspctlWordsTest);
  CPPUNIT_TEST(SplitsWords);
  CPPUNIT_TEST(StartsAtFirst);
  CPPUNIT_TEST(RepeatedOptionKeepsOrder);
  CPPUNIT_TEST(RejectsBadCommandLines);
  CPPUNIT_TEST(RequiredNamesCommand);
  CPPUNIT_TEST_SUITE_END();

 public:
  void SplitsWords() {
    CommandWords words = ParseCommandWords(
        {"r-1", "--comment", "ok then", "--quiet", "x"}, 0,
        Rules({"--comment"}, {"--quiet"}));
    CPPUNIT_ASSERT_EQUAL(size_t{2}, words.positional.size());
    CPPUNIT_ASSERT_EQUAL(std::string("r-1"), words.positional[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("x"), words.positional[1]);
    CPPUNIT_ASSERT_EQUAL(std::string("ok then"), *words.One("--comment"));
    CPPUNIT_ASSERT(words.Flag("--quiet"));
    CPPUNIT_ASSERT(!words.Flag("--comment"));
    CPPUNIT_ASSERT(!words.One("--reason").has_value());
  }

  void StartsAtFirst() {
    CommandWords words =
        ParseCommandWords({"verify", "--host", "web1"}, 1,
                          Rules({"--host"}, {}));
    CPPUNIT_ASSERT(words.positional.empty());
    CPPUNIT_ASSERT_EQUAL(std::string("web1"), *words.One("--host"));
  }

  void RepeatedOptionKeepsOrder() {
    WordRules rules = Rules({"--command"}, {});
    rules.repeatable = true;
    CommandWords words = ParseCommandWords(
        {"--command", "/bin/a", "--command", "/bin/b"}, 0, rules);
    Args all = words.All("--command");
    CPPUNIT_ASSERT_EQUAL(size_t{2}, all.size());
    CPPUNIT_ASSERT_EQUAL(std::string("/bin/a"), all[0]);
    CPPUNIT_ASSERT_EQUAL(std::string("/bin/b"), all[1]);
  }

  void RejectsBadCommandLines() {
    WordRules once = Rules({"--host"}, {"--all"});
    CPPUNIT_ASSERT_EQUAL(std::string("option --host needs a value"),
                         UsageError({"--host"}, 0, once));
    CPPUNIT_ASSERT_EQUAL(std::string("option --host given twice"),
                         UsageError({"--host", "a", "--host", "b"}, 0, once));
    CPPUNIT_ASSERT_EQUAL(std::string("unknown option --hots"),
                         UsageError({"--hots", "a"}, 0, once));
    CPPUNIT_ASSERT_EQUAL(std::string("unknown option --all=1"),
                         UsageError({"--all=1"}, 0, once));

    WordRules one_positional = once;
    one_positional.max_positional = 1;
    CPPUNIT_ASSERT_EQUAL(std::string(""),
                         UsageError({"token"}, 0, one_positional));
    CPPUNIT_ASSERT_EQUAL(std::string("unexpected argument extra"),
                         UsageError({"token", "extra"}, 0, one_positional));

    WordRules none = once;
    none.max_positional = 0;
    CPPUNIT_ASSERT_EQUAL(std::string("unexpected argument web1"),
                         UsageError({"web1"}, 0, none));
  }

  void RequiredNamesCommand() {
    CommandWords words;
    try {
      words.Required("--out", "breakglass keygen");
      CPPUNIT_FAIL("Required returned without --out");
    } catch (const UsageException& error) {
      CPPUNIT_ASSERT_EQUAL(std::string("breakglass keygen needs --out"),
                           std::string(error.what()));
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ZspctlWordsTest);
