// Crash-safe file replacement: the file is either the old content or the new, never a mix.
#pragma once

#include <filesystem>
#include <string>

#include "core/bytes.hpp"

namespace e3x::config {

// Writes `content` to a temporary file in the same directory (created with `mode`), fsyncs
// it, renames it over `path`, then fsyncs the directory. On failure the old file is
// untouched, the temporary is removed, and the error says which step failed and why
// (strerror).
// Returns an empty string on success. `failed_errno`, when given, receives the errno of the
// step that failed (ENOSPC and EDQUOT mean the disk is full), or 0.
std::string write_file_atomically(const std::filesystem::path& path, ByteView content,
                                  unsigned mode = 0600, int* failed_errno = nullptr);

// The same, but never replaces: the temporary is hard-linked to `path`, so if `path` already
// exists (even if it appeared a moment ago) nothing changes and the error ends in "link: File
// exists". For files that must not be overwritten, such as an identity.
std::string write_new_file_atomically(const std::filesystem::path& path, ByteView content,
                                      unsigned mode = 0600);

}  // namespace e3x::config
