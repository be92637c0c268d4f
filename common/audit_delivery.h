// Delivery of the local audit spool to the remote audit store (the broker's
// POST /v1/audit/records) over mutual TLS: in order, in batches, with
// retries and backoff. The store accepts a record it already holds again
// when it is byte-identical, so resending after a lost answer is safe.
// The last record the store confirmed is kept in a state file next to the
// spool, written atomically.
#ifndef ZSP_COMMON_AUDIT_DELIVERY_H_
#define ZSP_COMMON_AUDIT_DELIVERY_H_

#include <cstdint>
#include <string>

#include "common/config.h"
#include "common/result.h"

namespace zsp {

// Name of the state file in the spool directory: "SEQ HASH\n" of the last
// record the store confirmed.
inline constexpr char kDeliveryStateFileName[] = "delivered";
// Name of the lock file that keeps two deliveries from running at once.
inline constexpr char kDeliveryLockFileName[] = "delivery.lock";

struct DeliveryOptions {
  size_t max_batch_records = 200;
  // The broker rejects request bodies over 64 KiB.
  size_t max_batch_bytes = 48 * 1024;
  int max_attempts = 4;          // per batch, for transport errors and 5xx
  long first_backoff_ms = 500;   // doubled after each failed attempt
  long max_backoff_ms = 8000;
  int max_resyncs = 3;           // 409 answers in a row before giving up
};

struct DeliveryState {
  uint64_t seq = 0;  // 0: nothing delivered yet
  std::string hash;  // SHA-256 (hex) of that record's line
};

struct DeliveryReport {
  uint64_t first_sent = 0;         // 0 when nothing was pending
  uint64_t delivered_through = 0;  // the store's last confirmed record
  uint64_t spool_last = 0;         // the spool's last record
  size_t batches = 0;
  size_t retries = 0;
};

// Reads the state file in spool_dir; a missing file is seq 0.
Result<DeliveryState> ReadDeliveryState(const std::string& spool_dir);

// Sends every record after the delivered one. Fails when the store stays
// unreachable after the retries, rejects a record (the message names it),
// or the spool does not match what was delivered before.
Result<DeliveryReport> DeliverSpool(const HostConfig& config,
                                    const DeliveryOptions& options);

}  // namespace zsp

#endif  // ZSP_COMMON_AUDIT_DELIVERY_H_
