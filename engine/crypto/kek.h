// Where the key-encryption key (KEK) comes from (docs/security.md "Key
// hierarchy"): a key file with mode 0600 or the WARBLER_KEK environment
// variable, never the data directory.
//
// The key file is read and written with plain POSIX calls, not through
// io::FileSystem: it lives outside the data directory, and its permission bits
// are part of its contract, which the FileSystem interface does not express.
// Thread-safety: pure functions (LoadKekFromEnv reads the environment).
#pragma once

#include <string>

#include "base/status.h"
#include "engine/crypto/key.h"

namespace warbler::engine::crypto {

inline constexpr const char* kKekEnvVar = "WARBLER_KEK";

// Reads a key file: 64 hex digits and an optional trailing newline.
//   NotFound          the file does not exist
//   PermissionDenied  not a regular file (symlinks are refused), or group/other
//                     permission bits are set ("mode 0644 ... chmod 600 <path>")
//   InvalidArgument   the content is not a key
Result<Key> LoadKekFile(const std::string& path);

// Parses WARBLER_KEK (64 hex digits). NotFound when unset or empty.
Result<Key> LoadKekFromEnv();

// The configured KEK: `key_file` when non-empty, else WARBLER_KEK, else
// NotFound with KeygenHint() in the message.
Result<Key> LoadKek(const std::string& key_file);

// Creates `path` with a fresh random KEK: O_CREAT|O_EXCL, mode 0600, written,
// fsync'ed, then its directory fsync'ed. AlreadyExists if `path` exists (a
// key is never overwritten). The entry point of `warbler keygen`.
Status GenerateKekFile(const std::string& path);

// The one-line instruction that makes a key, for error messages.
std::string KeygenHint();

}  // namespace warbler::engine::crypto
