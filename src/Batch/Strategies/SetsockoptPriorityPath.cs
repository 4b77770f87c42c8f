namespace Perf.Batch;

/// <summary>One socket; setsockopt(SO_PRIORITY) before each group whose priority differs from the last one set.</summary>
internal sealed class SetsockoptPriorityPath : PriorityPath
{
    private long _socketPriority = -1; // the priority last set on the socket
    private long _calls;

    internal override bool SocketGroups => true;

    internal override long SetsockoptCalls => _calls;

    internal override SafeFdHandle BeforeGroup(SafeFdHandle own, uint priority, out int errno)
    {
        errno = 0;
        if (_socketPriority != priority)
        {
            errno = UdpSocket.TrySetInt(own, Interop.SOL_SOCKET, Interop.SO_PRIORITY, (int)priority);
            _socketPriority = errno == 0 ? priority : -1;
            _calls++;
        }

        return own;
    }
}
