// Tests for BrokerOrder, the order in which zsp-agent's relay tries the
// broker_url list: the broker that last responded first, then the rest in
// configuration order.
#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <vector>

#include "agent/relay.h"

namespace {

using zsp::agent::BrokerOrder;

class AgentRelayTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(AgentRelayTest);
  CPPUNIT_TEST(OrderStartsInConfigurationOrder);
  CPPUNIT_TEST(OrderStartsWithLastResponded);
  CPPUNIT_TEST(OrderIgnoresIndexOutOfRange);
  CPPUNIT_TEST_SUITE_END();

 public:
  void OrderStartsInConfigurationOrder() {
    BrokerOrder order;
    CPPUNIT_ASSERT(order.Order(3) == (std::vector<size_t>{0, 1, 2}));
    CPPUNIT_ASSERT(order.Order(0).empty());
  }

  void OrderStartsWithLastResponded() {
    BrokerOrder order;
    order.MarkResponded(2);
    CPPUNIT_ASSERT(order.Order(3) == (std::vector<size_t>{2, 0, 1}));
    order.MarkResponded(1);
    CPPUNIT_ASSERT(order.Order(3) == (std::vector<size_t>{1, 0, 2}));
  }

  void OrderIgnoresIndexOutOfRange() {
    BrokerOrder order;
    order.MarkResponded(5);
    CPPUNIT_ASSERT(order.Order(2) == (std::vector<size_t>{0, 1}));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AgentRelayTest);

}  // namespace
