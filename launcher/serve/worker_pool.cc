#include "launcher/serve/worker_pool.h"

#include <algorithm>

namespace cordon::serve {

WorkerPool::~WorkerPool() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (std::thread& t : threads) t.join();
}

void WorkerPool::Run(std::function<void()> task) {
  std::unique_lock<std::mutex> lock(mu_);
  // Join the workers that retired (more idle than max_idle_) since the last call.
  for (std::thread::id id : exited_) {
    auto it = std::find_if(threads_.begin(), threads_.end(),
                           [&](const std::thread& t) { return t.get_id() == id; });
    if (it != threads_.end()) {
      it->join();
      threads_.erase(it);
    }
  }
  exited_.clear();
  tasks_.push_back(std::move(task));
  if (idle_ >= tasks_.size()) {
    lock.unlock();
    cv_.notify_one();
    return;
  }
  threads_.emplace_back([this] { WorkerLoop(); });
}

void WorkerPool::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (tasks_.empty()) {
      if (stopping_ || idle_ >= max_idle_) {
        if (!stopping_) exited_.push_back(std::this_thread::get_id());
        return;
      }
      ++idle_;
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      --idle_;
      continue;
    }
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // destroy captures (a client's last reference) outside the lock
    lock.lock();
  }
}

}  // namespace cordon::serve
