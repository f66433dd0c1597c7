// A fixed pool of worker threads running one parallel loop at a time; the caller takes part.
// Workers and the caller spin briefly (tens of microseconds) before sleeping on a condition
// variable: a step on a few dozen rows (dual cache) is hundreds of short loops, and a futex
// wake-up per loop would cost as much as the loop itself.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace llada {

class ThreadPool {
 public:
  // n_threads in total, the calling thread included (so n_threads - 1 workers).
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(task, thread) for every task in [0, n_tasks), tasks handed out dynamically;
  // thread is in [0, size()). Returns when all are done; rethrows the first exception.
  void run(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

 private:
  void worker(int index);
  void drain(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};  // written under mu_, read spinning without it
  bool stop_ = false;
  std::atomic<int> busy_{0};  // workers still inside the current loop
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::exception_ptr error_;
  std::mutex run_mu_;  // one loop at a time
};

}  // namespace llada
