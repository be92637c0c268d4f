// Runs the CppUnit tests registered by the *_test.cc files. The last line of
// output is always "unit: N passed, N failed", counting test cases, because
// tests/run-all.sh adds up that line. An optional argument runs one test or
// suite by name, for example "TextTest" or "TextTest::ParseUnsignedRejects".
#include <cppunit/BriefTestProgressListener.h>
#include <cppunit/CompilerOutputter.h>
#include <cppunit/TestFailure.h>
#include <cppunit/TestResult.h>
#include <cppunit/TestResultCollector.h>
#include <cppunit/TestRunner.h>
#include <cppunit/extensions/TestFactoryRegistry.h>

#include <iostream>
#include <set>
#include <stdexcept>
#include <string>

int main(int argc, char** argv) {
  std::string test_name = argc > 1 ? argv[1] : "";

  CppUnit::TestResult controller;
  CppUnit::TestResultCollector collector;
  controller.addListener(&collector);
  CppUnit::BriefTestProgressListener progress;
  controller.addListener(&progress);

  CppUnit::TestRunner runner;
  runner.addTest(CppUnit::TestFactoryRegistry::getRegistry().makeTest());
  try {
    runner.run(controller, test_name);
  } catch (const std::invalid_argument& e) {
    std::cerr << "no test named " << test_name << ": " << e.what() << "\n";
    std::cout << "unit: 0 passed, 1 failed\n";
    return 1;
  }

  CppUnit::CompilerOutputter outputter(&collector, std::cout);
  outputter.write();

  // A test can fail in its body and again in tearDown, so count the tests
  // that failed rather than the failures.
  std::set<CppUnit::Test*> failed_tests;
  for (const CppUnit::TestFailure* failure : collector.failures()) {
    failed_tests.insert(failure->failedTest());
  }
  int run = collector.runTests();
  int failed = static_cast<int>(failed_tests.size());
  std::cout << "unit: " << (run - failed) << " passed, " << failed
            << " failed\n";
  return failed == 0 ? 0 : 1;
}
