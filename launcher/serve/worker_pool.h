#ifndef CORDON_LAUNCHER_SERVE_WORKER_POOL_H_
#define CORDON_LAUNCHER_SERVE_WORKER_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cordon::serve {

// Runs control requests. A request may block for as long as its plugin call (a hung plugin
// until its deadline), so the pool never makes a task wait for a busy worker: it starts a
// new thread when none is idle. What it saves is the thread start per request: up to
// max_idle finished workers stay parked for the next task.
class WorkerPool {
 public:
  explicit WorkerPool(size_t max_idle) : max_idle_(max_idle) {}
  ~WorkerPool();  // runs the queued tasks to completion, then joins every worker
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Run(std::function<void()> task);

 private:
  void WorkerLoop();

  const size_t max_idle_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  size_t idle_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::vector<std::thread::id> exited_;  // workers that left; joined on the next Run
};

}  // namespace cordon::serve

#endif  // CORDON_LAUNCHER_SERVE_WORKER_POOL_H_
