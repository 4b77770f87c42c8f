using System.Net.Sockets;

namespace Perf.Batch;

/// <summary>Linux errno values that senders and receivers report, with their symbolic names.</summary>
public static class Errno
{
    /// <summary>Operation not permitted: a priority above 6 without CAP_NET_ADMIN or CAP_NET_RAW.</summary>
    public const int EPERM = 1;
    /// <summary>Interrupted system call; always retried internally.</summary>
    public const int EINTR = 4;
    /// <summary>Bad file descriptor.</summary>
    public const int EBADF = 9;
    /// <summary>Resource temporarily unavailable: the socket send buffer is full.</summary>
    public const int EAGAIN = 11;
    /// <summary>Out of memory.</summary>
    public const int ENOMEM = 12;
    /// <summary>Permission denied.</summary>
    public const int EACCES = 13;
    /// <summary>Bad address.</summary>
    public const int EFAULT = 14;
    /// <summary>Invalid argument: on kernels before 6.14, the per-packet SO_PRIORITY cmsg.</summary>
    public const int EINVAL = 22;
    /// <summary>Function not implemented.</summary>
    public const int ENOSYS = 38;
    /// <summary>Destination address required.</summary>
    public const int EDESTADDRREQ = 89;
    /// <summary>Message too long.</summary>
    public const int EMSGSIZE = 90;
    /// <summary>Operation not supported.</summary>
    public const int EOPNOTSUPP = 95;
    /// <summary>Address family not supported.</summary>
    public const int EAFNOSUPPORT = 97;
    /// <summary>Address already in use.</summary>
    public const int EADDRINUSE = 98;
    /// <summary>Cannot assign requested address.</summary>
    public const int EADDRNOTAVAIL = 99;
    /// <summary>Network is down.</summary>
    public const int ENETDOWN = 100;
    /// <summary>Network is unreachable.</summary>
    public const int ENETUNREACH = 101;
    /// <summary>No buffer space available: a qdisc or device queue pushed back.</summary>
    public const int ENOBUFS = 105;
    /// <summary>Socket is not connected.</summary>
    public const int ENOTCONN = 107;
    /// <summary>Timed out.</summary>
    public const int ETIMEDOUT = 110;
    /// <summary>Connection refused: an ICMP port unreachable reported on a connected socket.</summary>
    public const int ECONNREFUSED = 111;
    /// <summary>No route to host.</summary>
    public const int EHOSTUNREACH = 113;
    /// <summary>Operation canceled: a packet still queued when its sender was disposed.</summary>
    public const int ECANCELED = 125;

    /// <summary>No such file or directory.</summary>
    internal const int ENOENT = 2;
    /// <summary>File exists.</summary>
    internal const int EEXIST = 17;

    /// <summary>Errno values below this bound are counted individually; larger ones share the last bucket.</summary>
    internal const int CountedRange = 256;

    /// <summary>ENOPROTOOPT: the kernel lacks a socket option, such as SO_RCVPRIORITY before Linux 6.14.</summary>
    public const int ENOPROTOOPT = 92;
    /// <summary>No such device, such as a network device name that does not exist.</summary>
    public const int ENODEV = 19;
    /// <summary>Input/output error: a UDP_SEGMENT send through a device that cannot checksum-offload.</summary>
    public const int EIO = 5;

    /// <summary>Too many open files: under SocketPerPriority, a priority beyond <see cref="PacketSenderOptions.MaxPrioritySockets"/> fails with it.</summary>
    public const int EMFILE = 24;

    /// <summary>Device or resource busy (io_uring: the completion queue is full).</summary>
    internal const int EBUSY = 16;

    // Linux's generic errno names (include/uapi/asm-generic/errno-base.h and errno.h, the same on x86-64 and arm64),
    // indexed by value; 41 and 58 are unused.
    private static readonly string?[] s_names =
    [
        "OK", "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD", "EAGAIN",
        "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL",
        "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM",
        "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY", "ELOOP", null, "ENOMSG", "EIDRM",
        "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH", "ENOCSI", "EL2HLT", "EBADE", "EBADR", "EXFULL",
        "ENOANO", "EBADRQC", "EBADSLT", null, "EBFONT", "ENOSTR", "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG",
        "EREMOTE", "ENOLINK", "EADV", "ESRMNT", "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW",
        "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC", "ELIBBAD", "ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ", "ERESTART",
        "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT",
        "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL", "ENETDOWN",
        "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN",
        "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE",
        "EUCLEAN", "ENOTNAM", "ENAVAIL", "EISNAM", "EREMOTEIO", "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED",
        "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED", "EKEYREJECTED", "EOWNERDEAD", "ENOTRECOVERABLE", "ERFKILL",
        "EHWPOISON",
    ];

    /// <summary>The symbolic name of <paramref name="errno"/>, such as "EPERM" or "ENOPROTOOPT"; never allocates for a known value.</summary>
    public static string Name(int errno) =>
        (uint)errno < (uint)s_names.Length && s_names[errno] is string name ? name : NameSlow(errno);

    private static string NameSlow(int errno) => "errno " + errno.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Maps a Linux errno to the closest <see cref="SocketError"/>; the one place this mapping lives.</summary>
    public static SocketError ToSocketError(int errno) => errno switch
    {
        0 => SocketError.Success,
        EPERM or EACCES => SocketError.AccessDenied,
        ENOPROTOOPT => SocketError.ProtocolOption,
        ENODEV => SocketError.NetworkDown,
        EINTR => SocketError.Interrupted,
        EBADF => SocketError.OperationAborted,
        EAGAIN => SocketError.WouldBlock,
        ENOMEM or ENOBUFS => SocketError.NoBufferSpaceAvailable,
        EFAULT => SocketError.Fault,
        EINVAL => SocketError.InvalidArgument,
        ENOSYS or EOPNOTSUPP => SocketError.OperationNotSupported,
        EDESTADDRREQ => SocketError.DestinationAddressRequired,
        EMSGSIZE => SocketError.MessageSize,
        EAFNOSUPPORT => SocketError.AddressFamilyNotSupported,
        EADDRINUSE => SocketError.AddressAlreadyInUse,
        EADDRNOTAVAIL => SocketError.AddressNotAvailable,
        ENETDOWN => SocketError.NetworkDown,
        ENETUNREACH => SocketError.NetworkUnreachable,
        ENOTCONN => SocketError.NotConnected,
        ETIMEDOUT => SocketError.TimedOut,
        ECONNREFUSED => SocketError.ConnectionRefused,
        EHOSTUNREACH => SocketError.HostUnreachable,
        ECANCELED => SocketError.OperationAborted,
        _ => SocketError.SocketError,
    };
}
