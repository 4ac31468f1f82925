#include "crypto/jwt.h"
