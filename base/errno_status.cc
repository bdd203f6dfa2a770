#include "base/errno_status.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace warbler {

Status ErrnoStatus(int err, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  char buf[128];
  msg += strerror_r(err, buf, sizeof buf);
  msg += " (errno ";
  msg += std::to_string(err);
  msg += ")";
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return Status::NoSpace(std::move(msg));
    case ENOENT:
      return Status::NotFound(std::move(msg));
    case EEXIST:
      return Status::AlreadyExists(std::move(msg));
    case EACCES:
    case EPERM:
    case EROFS:
      return Status::PermissionDenied(std::move(msg));
    case EINVAL:
    case ENAMETOOLONG:
    case EISDIR:
    case ENOTDIR:
      return Status::InvalidArgument(std::move(msg));
    case ENOTEMPTY:
      return Status::FailedPrecondition(std::move(msg));
    case EWOULDBLOCK:
      return Status::Busy(std::move(msg));
    case ENOSYS:
    case EOPNOTSUPP:
      return Status::NotSupported(std::move(msg));
    default:
      return Status::IOError(std::move(msg));
  }
}

}  // namespace warbler
