// Deep frames compiled without stack probes (tests/unprobed_frames.cpp).
#pragma once

namespace spindle::test {

// Recurses `limit - depth` more times with a 12 KiB frame per call, each
// touching only its lowest byte.
int recurse_unprobed(int depth, int limit);

}  // namespace spindle::test
