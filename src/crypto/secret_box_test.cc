#include "crypto/secret_box.h"
