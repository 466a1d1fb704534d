/* A minimal stand-in for <sys/event.h>, so that runtime/io/kqueue_reactor.cpp
 * can be compile-checked on Linux (tests/kqueue_compile/check.sh). It
 * declares only what the backend uses, with the types, values and
 * signatures of FreeBSD's kqueue(2) manual page and <sys/event.h>. It is
 * never linked: the functions have no definition. */
#ifndef SPINDLE_TEST_SYS_EVENT_H
#define SPINDLE_TEST_SYS_EVENT_H

#include <stdint.h>
#include <time.h> /* struct timespec */

#ifdef __cplusplus
extern "C" {
#endif

struct kevent {
  uintptr_t ident;      /* identifier for this event */
  short filter;         /* filter for event */
  unsigned short flags; /* action flags for kqueue */
  unsigned int fflags;  /* filter flag value */
  int64_t data;         /* filter data value */
  void* udata;          /* opaque user data identifier */
  uint64_t ext[4];      /* extensions */
};

/* filters */
#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_USER (-11) /* user events */

/* actions */
#define EV_ADD 0x0001    /* add event to kq (implies enable) */
#define EV_DELETE 0x0002 /* delete event from kq */

/* flags */
#define EV_CLEAR 0x0020   /* clear event state after reporting */
#define EV_RECEIPT 0x0040 /* force EV_ERROR on success, data=0 */

/* returned values */
#define EV_EOF 0x8000   /* EOF detected */
#define EV_ERROR 0x4000 /* error, data contains errno */

/* data/hint flags for EVFILT_USER */
#define NOTE_TRIGGER 0x01000000 /* cause the event to be triggered */

int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
           int nevents, const struct timespec* timeout);

#ifdef __cplusplus
}
#endif

#endif /* SPINDLE_TEST_SYS_EVENT_H */
