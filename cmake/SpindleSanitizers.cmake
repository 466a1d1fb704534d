# Sanitizer builds for the whole tree (library, tests, samples).
# SPINDLE_SANITIZE=address : AddressSanitizer + UndefinedBehaviorSanitizer
# SPINDLE_SANITIZE=thread  : ThreadSanitizer
# The runtime annotates every fiber switch for both (runtime/fiber/sanitizers.hpp),
# keyed on the compiler's own __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__.
if(SPINDLE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(SPINDLE_SANITIZE STREQUAL "thread")
  # -Wno-tsan: GCC warns that TSan does not model atomic_thread_fence. spindle's
  # own code uses full_fence() (runtime/fiber/sanitizers.hpp), which TSan does model;
  # the remaining fences are inside moodycamel::ConcurrentQueue's header.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
elseif(NOT SPINDLE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SPINDLE_SANITIZE must be '', 'address' or 'thread', not '${SPINDLE_SANITIZE}'")
endif()
