#include "crypto/encoding.h"
