// What decode_jpeg.cpp and encode_jpeg.cpp share around libjpeg: the error state its fatal-error
// handler longjmps through, and the guard that destroys a session's libjpeg object on every exit path.
// (Why phase functions and setjmp: decode_jpeg.cpp's opening comment.)
#pragma once
#include <csetjmp>
#include <cstdio>  // before jpeglib.h, which uses FILE without including it

#include <jpeglib.h>

namespace iqa::jpeg_detail {

// libjpeg's fatal errors call error_exit, which must not return: it formats the message into `message`
// and longjmps to `jump`, armed by setjmp in the phase function that made the libjpeg call.
struct ErrorState {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
  bool created = false;  // jpeg_create_* has run, so the object must be destroyed
};

[[noreturn]] inline void on_fatal_error(j_common_ptr cinfo) {
  auto* e = static_cast<ErrorState*>(cinfo->client_data);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// Call before jpeg_create_*: fatal errors as above (the state is found through client_data, which
// jpeg_create_* keeps), other messages to `emit_message`.
inline void install_error_state(j_common_ptr cinfo, ErrorState& e, void (*emit_message)(j_common_ptr, int)) {
  cinfo->err = jpeg_std_error(&e.mgr);
  e.mgr.error_exit = on_fatal_error;
  e.mgr.emit_message = emit_message;
  cinfo->client_data = &e;
}

// Owns a session (a struct with a libjpeg `cinfo` and its `errors`).
template <class Session>
struct SessionGuard {
  Session s;
  SessionGuard() = default;
  SessionGuard(const SessionGuard&) = delete;
  SessionGuard& operator=(const SessionGuard&) = delete;
  ~SessionGuard() {
    if (s.errors.created) jpeg_destroy(reinterpret_cast<j_common_ptr>(&s.cinfo));
  }
};

}  // namespace iqa::jpeg_detail
