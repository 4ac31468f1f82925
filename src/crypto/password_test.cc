#include "crypto/password.h"
