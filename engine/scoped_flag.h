// RAII over a thread-local switch: the grad-mode and autocast-suspension guards differ only in which
// flag they set and to what, so they share this.
#pragma once

namespace iqa {

// Sets `flag` to `value` for its lifetime, then restores the value it found (so guards nest).
class ScopedFlag {
 public:
  ScopedFlag(bool& flag, bool value) : flag_(flag), prev_(flag) { flag = value; }
  ~ScopedFlag() { flag_ = prev_; }
  ScopedFlag(const ScopedFlag&) = delete;
  ScopedFlag& operator=(const ScopedFlag&) = delete;

 private:
  bool& flag_;
  bool prev_;
};

}  // namespace iqa
