// Test hooks of NewDefaultFileSystem (declared in io/file_system.h, defined
// in io/default_fs.cc). Production code never calls these.
#pragma once

namespace warbler::io::internal {

// Forgets that the backend choice was logged, so the next call of
// NewDefaultFileSystem logs it again. Test only.
void ResetBackendLogForTest();

}  // namespace warbler::io::internal
