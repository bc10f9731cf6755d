#pragma once
// How the controller's requests reach the brokers (Kafka's
// ControllerChannelManager): one connection per live broker, to its
// inter-broker listener, and one queue per broker, so a slow or dead broker
// delays nobody else. Each broker has one request in flight at a time, in the
// order they were queued; a request that gets no answer (the connection
// failed, the broker did not answer in time) is sent again after a backoff,
// until it is answered or the broker leaves the live set — as Kafka's
// RequestSendThread does. The controller builds the requests (request_batch.h).
//
// The controller's own broker is no exception: its requests take no socket
// but run on a thread of their own, one at a time and in order, so the event
// thread only queues them. Run there, a LeaderAndIsr making this broker leader
// of thousands of partitions (leader-epoch checkpoints, fsyncs) held every
// ControlledShutdown, AlterPartition and broker change behind it.
//
// Threads: the controller's event thread calls in; responses come on the
// client runtime's thread and are handed to the callback there (the local
// broker's too).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "coord/kafka_layout.h"
#include "net/client.h"

namespace keel::controller {

struct ChannelOptions {
  int32_t controller_id = 0;
  std::string listener_name = "PLAINTEXT";  // inter.broker.listener.name: the endpoint used
  int64_t request_timeout_ms = 30'000;      // controller.socket.timeout.ms
  int64_t retry_backoff_ms = 100;           // before a request is sent again
  // Requests to this broker itself go straight to its request handler, with
  // no socket (the same handlers a remote controller's requests reach):
  // `local` gets the request frame and answers with the response frame, from
  // any thread. It is called on the local channel's own thread.
  int32_t local_broker_id = -1;
  std::function<void(Bytes frame, std::function<void(Result<Bytes>)> done)> local;
};

class ChannelManager {
 public:
  // The response body (after the response header), or why there is none.
  using Callback = std::function<void(Result<Bytes>)>;

  ChannelManager(net::ClientRuntime& runtime, ChannelOptions options);
  ~ChannelManager();
  ChannelManager(const ChannelManager&) = delete;
  ChannelManager& operator=(const ChannelManager&) = delete;

  // The live brokers: new ones get a connection, a changed endpoint moves it,
  // brokers no longer live lose their connection and queue (their callbacks
  // are not called).
  void set_brokers(const std::map<int32_t, coord::BrokerRegistration>& brokers);

  // Queues a request (`body` encoded at `version`) for `broker`; unknown
  // brokers are ignored. `callback` may be empty.
  void send(int32_t broker, int16_t api_key, int16_t version, Bytes body, Callback callback = {});

  // Drops every queue and connection (on resignation). A request the local
  // broker is handling runs to its end; its callback is not called.
  void clear();

  // clear(), then waits for the request the local broker is handling: none
  // runs once it returns (the broker may be closing its logs), and none is
  // sent to it any more. For the controller's stop; the destructor calls it.
  void stop();

  // Requests to `broker` queue but are not sent until release(), or until
  // `limit` has passed (so a hold nobody releases cannot stop the channel
  // for good). For a controlled shutdown: the stopping broker gives up its
  // leaderships only once their new leaders have taken them.
  void hold_for(int32_t broker, std::chrono::milliseconds limit);
  void release(int32_t broker);

  // Requests queued or in flight for `broker` (for tests and metrics).
  size_t pending(int32_t broker) const;

  // Waits at most `timeout` until `broker` has nothing queued or in flight
  // (or no channel); true when it has not. With `or_failing`, also true as
  // soon as the request in front has failed (it waits for its retry): a
  // broker that cannot take its requests then holds the caller no longer.
  bool wait_idle(int32_t broker, std::chrono::milliseconds timeout, bool or_failing = false) const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the callbacks in flight
};

}  // namespace keel::controller
