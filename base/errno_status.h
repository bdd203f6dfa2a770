// Maps an errno value to a Status with context, e.g.
//   ErrnoStatus(ENOSPC, "pwrite /data/p0/00000000000000000000.seg")
// gives NoSpace("pwrite /data/...: No space left on device (errno 28)").
#pragma once

#include <string_view>

#include "base/status.h"

namespace warbler {

Status ErrnoStatus(int err, std::string_view context);

}  // namespace warbler
