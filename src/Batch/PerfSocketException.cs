using System.Net.Sockets;

namespace Perf.Batch;

/// <summary>A setup call (socket, bind, setsockopt, probe, ring setup) failed; carries the raw errno and what was being done.</summary>
public sealed class PerfSocketException : SocketException
{
    /// <summary>Creates the exception for <paramref name="operation"/> failing with <paramref name="errno"/>.</summary>
    public PerfSocketException(string operation, int errno, string? detail = null)
        : base((int)Batch.Errno.ToSocketError(errno), BuildMessage(operation, errno, detail))
    {
        Operation = operation;
        Errno = errno;
    }

    /// <summary>The raw Linux errno.</summary>
    public int Errno { get; }

    /// <summary>The call that failed, such as "setsockopt(SO_RCVPRIORITY)".</summary>
    public string Operation { get; }

    private static string BuildMessage(string operation, int errno, string? detail)
    {
        string msg = operation + " failed: " + Batch.Errno.Name(errno) + " (" + errno.ToString(System.Globalization.CultureInfo.InvariantCulture) + ")";
        return detail is null ? msg : msg + ". " + detail;
    }
}
