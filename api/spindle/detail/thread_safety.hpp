// thread_safety: lock rules that clang checks at compile time.
//
// Wrappers of clang's thread-safety attributes
// (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html; marl's tsa.h is the
// model). `SPINDLE_GUARDED_BY(lock_)` on a member and `SPINDLE_REQUIRES(lock_)`
// on a function turn a "guarded by lock_" comment into a rule: built with
// `clang++ -Wthread-safety` (scripts/test.sh does), touching the member or
// calling the function without holding the lock is a warning. What a rule
// cannot express (a lock held by the owner of an intrusive queue, several
// locks taken in address order) stays a comment that says why.
//
// Attributes, not templates, so macros are the only spelling. On any other
// compiler they expand to nothing; in clang they are attributes that only
// -Wthread-safety reads. No code, layout or behaviour depends on them.
#pragma once

#if defined(__clang__)
#define SPINDLE_THREAD_ATTRIBUTE(x) __attribute__((x))
#else
#define SPINDLE_THREAD_ATTRIBUTE(x)
#endif

// On a class: its objects are locks. On a RAII class: it holds a lock for its
// lifetime.
#define SPINDLE_CAPABILITY(name) SPINDLE_THREAD_ATTRIBUTE(capability(name))
#define SPINDLE_SCOPED_CAPABILITY SPINDLE_THREAD_ATTRIBUTE(scoped_lockable)

// On a member: read or written only while holding the lock.
#define SPINDLE_GUARDED_BY(lock) SPINDLE_THREAD_ATTRIBUTE(guarded_by(lock))

// On a function: the caller holds the lock (REQUIRES); the function takes it
// and returns holding it (ACQUIRE), gives it up (RELEASE), or takes it when
// it returns `result` (TRY_ACQUIRE). Without arguments, on a member of a
// capability class, "it" is *this.
#define SPINDLE_REQUIRES(...) SPINDLE_THREAD_ATTRIBUTE(requires_capability(__VA_ARGS__))
#define SPINDLE_ACQUIRE(...) SPINDLE_THREAD_ATTRIBUTE(acquire_capability(__VA_ARGS__))
#define SPINDLE_RELEASE(...) SPINDLE_THREAD_ATTRIBUTE(release_capability(__VA_ARGS__))
#define SPINDLE_TRY_ACQUIRE(...) SPINDLE_THREAD_ATTRIBUTE(try_acquire_capability(__VA_ARGS__))

// On a function whose locking the analysis cannot follow; every use says why.
#define SPINDLE_NO_THREAD_SAFETY_ANALYSIS SPINDLE_THREAD_ATTRIBUTE(no_thread_safety_analysis)
