// Internal code includes Status through this header; the definition is public.
#pragma once
#include "warbler/status.h"
