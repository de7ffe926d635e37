// The errno values the package tells apart, from Node's own table (os.constants.errno), so no file
// writes a number of its own. The addon returns them negated.
import { constants } from 'node:os'

export const { EACCES, EAGAIN, EDEADLK, EFAULT, EINVAL, EIO, ENODEV, ENOENT, ENOMEM, ENOSYS, EOPNOTSUPP, EPERM, EROFS, ESRCH, ETIMEDOUT } =
  constants.errno
