#include "crypto/x25519.h"
