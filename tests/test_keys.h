// A fixed key-encryption key for tests of encrypted stores (never use it for
// anything else). UseTestKek() exports it as WARBLER_KEK, which Store::Open
// reads when StoreOptions::kek_file is empty.
#pragma once

#include <cstdlib>

namespace warbler::testing {

inline constexpr const char* kTestKekHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

inline void UseTestKek() { setenv("WARBLER_KEK", kTestKekHex, /*overwrite=*/1); }

}  // namespace warbler::testing
