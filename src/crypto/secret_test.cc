#include "crypto/secret.h"
