// The identity file: JSON {"3a":"<base32 public>","3a_secret":"<base32 secret>"}, mode 0600.
#pragma once

#include <filesystem>
#include <string>

#include "core/cs3a.hpp"
#include "core/random.hpp"
#include "core/result.hpp"

namespace e3x::config {

struct IdentityError {
  enum class Kind {
    kMissing,      // no such file
    kUnreadable,   // exists but cannot be read (permissions, I/O error, is a directory)
    kInsecure,     // readable or writable by group or others
    kMalformed,    // not JSON, missing field, bad base32, wrong length, public != secret
    kWriteFailed,  // creating it failed
  };
  Kind kind;
  std::string message;  // full sentence naming the file and what to do
};

// Reads and checks an identity file. Refuses (kInsecure) a file whose mode has any group or
// other bits, with a message that names `chmod 600 <file>`.
Result<KeyPair, IdentityError> load_identity(const std::filesystem::path& file);

// Generates a new identity and writes it atomically with mode 0600, creating missing parent
// directories with mode 0700. Refuses to overwrite an existing file (kWriteFailed).
Result<KeyPair, IdentityError> create_identity(const std::filesystem::path& file, Random& random);

// load_identity, or create_identity when the file does not exist. `created` tells which.
Result<KeyPair, IdentityError> load_or_create_identity(const std::filesystem::path& file,
                                                       Random& random, bool* created = nullptr);

// The JSON text of an identity file (what create_identity writes). It holds the secret key:
// wipe it (sodium_memzero) once written.
std::string identity_json(const KeyPair& identity);

}  // namespace e3x::config
