// The project's error type lives at the bottom layer (kernels/error.h) so kernels can throw it without
// including upward; engine, models, training and tools keep including this name.
#pragma once
#include "kernels/error.h"
