// The identity file: the endpoint's cs3a key pair as JSON, readable by its owner only.
//
// The secret key passes through several buffers on its way in and out (the file's bytes, the
// JSON tree, base32 text, decoded bytes); each is wiped with sodium_memzero once used, and no
// message ever quotes the file's content.
#include "config/identity_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/json/parser.hpp>
#include <boost/json/static_resource.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "config/atomic_file.hpp"
#include "core/base32.hpp"

namespace e3x::config {

namespace {

// A real identity file is about 130 bytes; anything much larger is not one.
constexpr std::size_t kMaxIdentityFile = 4096;
// Base32 text of 32 bytes: 256 bits in 52 symbols of 5 bits, the last 4 bits zero padding.
constexpr std::size_t kKeyTextLength = 52;

using IdentityResult = Result<KeyPair, IdentityError>;

IdentityResult failure(IdentityError::Kind kind, std::string message) {
  return unexpected(IdentityError{kind, std::move(message)});
}

IdentityResult malformed(const std::filesystem::path& file, const std::string& what) {
  return failure(IdentityError::Kind::kMalformed,
                 "identity file " + file.string() + " is malformed: " + what +
                     "; fix it, or move it away and create a new identity (a new hashname) with "
                     "'e3xctl keygen --out " +
                     file.string() + "'");
}

// A std::string that is wiped when it goes away: for text holding the secret key.
struct WipedString {
  std::string text;
  WipedString() = default;
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  ~WipedString() { sodium_memzero(text.data(), text.size()); }
};

// True if `text` is the base32 form of exactly 32 bytes, so base32_decode cannot fail part
// way through and drop a half-decoded secret without wiping it.
bool is_key_text(std::string_view text) {
  if (text.size() != kKeyTextLength) return false;
  for (char c : text) {
    const bool valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
    if (!valid) return false;
  }
  const char last = static_cast<char>(text.back() | 0x20);  // lower case
  const int last_value = last >= 'a' ? last - 'a' : last - '2' + 26;
  return (last_value & 0x0f) == 0;
}

// Decodes checked key text into `out` and wipes the intermediate bytes.
void decode_key(std::string_view text, std::span<std::uint8_t, 32> out) {
  std::optional<Bytes> bytes = base32_decode(text);  // cannot fail: is_key_text holds
  std::copy(bytes->begin(), bytes->end(), out.begin());
  sodium_memzero(bytes->data(), bytes->size());
}

// Reads the whole file from an open descriptor; an errno on failure.
int read_all(int fd, std::string& out) {
  char buffer[512];
  int error = 0;
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) error = errno;
    if (got <= 0) break;
    if (out.size() + static_cast<std::size_t>(got) > kMaxIdentityFile) {
      error = EFBIG;
      break;
    }
    out.append(buffer, static_cast<std::size_t>(got));
  }
  sodium_memzero(buffer, sizeof buffer);
  return error;
}

// Closes a descriptor when it goes out of scope.
struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

// Parses the JSON text and checks it. The JSON tree and the parser's scratch space live in
// `scratch`, which is wiped on return, so the secret's text leaves no copy on the heap.
IdentityResult parse_identity(const std::filesystem::path& file, std::string_view text) {
  struct Scratch {
    alignas(16) std::array<unsigned char, 2048> parser{};
    alignas(16) std::array<unsigned char, 16384> values{};
    ~Scratch() { sodium_memzero(this, sizeof *this); }
  } scratch;
  boost::json::static_resource arena(scratch.values.data(), scratch.values.size());
  const boost::json::storage_ptr storage(&arena);

  boost::json::value json(storage);  // same storage as the parser's result: moved, not copied
  boost::system::error_code error;
  try {
    boost::json::parser parser(storage, {}, scratch.parser.data(), scratch.parser.size());
    parser.reset(storage);
    parser.write(text.data(), text.size(), error);
    if (!error) json = parser.release();
  } catch (const std::bad_alloc&) {
    return malformed(file, "it is not an identity file (its JSON is far too large)");
  }
  if (error) return malformed(file, "it is not valid JSON (" + error.message() + ")");
  if (!json.is_object()) return malformed(file, "it is not a JSON object");
  boost::json::object& object = json.get_object();

  // Both fields are checked for presence and form before anything is decoded.
  for (const char* field : {"3a", "3a_secret"}) {
    const boost::json::value* value = object.if_contains(field);
    const std::string name = std::string("field '") + field + "'";
    if (value == nullptr) return malformed(file, name + " is missing");
    if (!value->is_string()) return malformed(file, name + " is not a string");
    const std::string_view key_text = value->get_string();
    if (!is_key_text(key_text)) {
      const std::string found = key_text.size() == kKeyTextLength
                                    ? "52 characters that are not valid base32"
                                    : std::to_string(key_text.size()) + " characters";
      return malformed(file, name +
                                 " is not a key: expected 52 base32 characters (a-z, 2-7) "
                                 "encoding 32 bytes, found " +
                                 found);
    }
  }

  PublicKey public_key{};
  SecretKey secret_key;
  decode_key(object.at("3a").get_string(), public_key);
  decode_key(object.at("3a_secret").get_string(), secret_key.span());
  KeyPair pair = keypair_from_secret(secret_key);
  if (pair.public_key != public_key) {
    return malformed(file,
                     "the public key in '3a' does not belong to the secret key in '3a_secret'");
  }
  return pair;
}

}  // namespace

std::string identity_json(const KeyPair& identity) {
  WipedString secret;
  secret.text = base32_encode(identity.secret_key.view());
  const std::string public_text = base32_encode(identity.public_key);
  std::string out;
  // Reserved up front so appending never reallocates and leaves an unwiped copy behind.
  out.reserve(64 + public_text.size() + secret.text.size());
  out += "{\"3a\":\"";
  out += public_text;
  out += "\",\"3a_secret\":\"";
  out += secret.text;
  out += "\"}\n";
  return out;
}

IdentityResult load_identity(const std::filesystem::path& file) {
  // Opened once, without following a symbolic link (nobody can swap the file for a link to
  // someone else's between a check and the read), and every check is made on what was
  // opened (fstat), not on the name. O_NONBLOCK: a FIFO put in its place cannot hang us.
  Descriptor descriptor;
  descriptor.fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
  if (descriptor.fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return failure(IdentityError::Kind::kMissing,
                     "identity file " + file.string() + " does not exist");
    }
    if (error == ELOOP) {
      return failure(IdentityError::Kind::kInsecure,
                     "identity file " + file.string() +
                         " is a symbolic link; it holds a secret key, so e3xd reads only a "
                         "regular file: point 'identity' at the file itself");
    }
    return failure(IdentityError::Kind::kUnreadable,
                   "cannot read identity file " + file.string() + ": " + std::strerror(error));
  }
  struct stat info {};
  if (::fstat(descriptor.fd, &info) != 0) {
    const int error = errno;
    return failure(IdentityError::Kind::kUnreadable,
                   "cannot read identity file " + file.string() + ": " + std::strerror(error));
  }
  if (!S_ISREG(info.st_mode)) {
    return failure(IdentityError::Kind::kUnreadable,
                   "identity file " + file.string() + " is " +
                       (S_ISDIR(info.st_mode) ? "a directory" : "not a regular file"));
  }
  const unsigned mode = info.st_mode & 07777;
  if ((mode & 077) != 0) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    const char* access =
        (mode & 044) != 0 ? "readable by group or others" : "writable by group or others";
    return failure(IdentityError::Kind::kInsecure,
                   "identity file " + file.string() + " is " + access + " (mode " + octal +
                       "); it holds a secret key: run 'chmod 600 " + file.string() + "'");
  }
  // Its owner could read or replace it: only we (or root) may own it.
  const uid_t us = ::geteuid();
  if (info.st_uid != us && info.st_uid != 0) {
    return failure(IdentityError::Kind::kInsecure,
                   "identity file " + file.string() + " is owned by uid " +
                       std::to_string(info.st_uid) + ", not by the user e3xd runs as (uid " +
                       std::to_string(us) + "); it holds a secret key: run 'chown " +
                       std::to_string(us) + " " + file.string() + "'");
  }

  WipedString text;
  if (const int error = read_all(descriptor.fd, text.text); error != 0) {
    if (error == EFBIG) {
      return malformed(file, "it is larger than " + std::to_string(kMaxIdentityFile) +
                                 " bytes, far more than an identity");
    }
    return failure(IdentityError::Kind::kUnreadable,
                   "cannot read identity file " + file.string() + ": " + std::strerror(error));
  }
  return parse_identity(file, text.text);
}

IdentityResult create_identity(const std::filesystem::path& file, Random& random) {
  const auto write_failed = [&](const std::string& why) {
    return failure(IdentityError::Kind::kWriteFailed,
                   "cannot create identity file " + file.string() + ": " + why);
  };
  struct stat info {};
  if (::lstat(file.c_str(), &info) == 0) {
    return write_failed(
        "it already exists; refusing to overwrite an identity (move it away "
        "first if you really want a new one)");
  }

  // mkdir -p with mode 0700: the directory holding a secret is private too.
  std::filesystem::path dir;
  for (const std::filesystem::path& part : file.parent_path()) {
    dir /= part;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      const int error = errno;
      return write_failed("mkdir " + dir.string() + ": " + std::strerror(error));
    }
  }

  KeyPair pair = generate_keypair(random);
  WipedString json;
  json.text = identity_json(pair);
  // Never replaces: a file that appeared since the check above is left alone.
  const std::string error = write_new_file_atomically(file, as_bytes(json.text), 0600);
  if (!error.empty()) return write_failed(error);
  return pair;
}

IdentityResult load_or_create_identity(const std::filesystem::path& file, Random& random,
                                       bool* created) {
  if (created != nullptr) *created = false;
  IdentityResult loaded = load_identity(file);
  if (loaded || loaded.error().kind != IdentityError::Kind::kMissing) return loaded;
  IdentityResult made = create_identity(file, random);
  if (made && created != nullptr) *created = true;
  return made;
}

}  // namespace e3x::config
