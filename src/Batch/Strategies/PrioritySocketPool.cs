using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;

namespace Perf.Batch;

/// <summary>
/// SocketPerPriority: one socket per distinct priority, each with setsockopt(SO_PRIORITY) set once, bound to the
/// sender's local address (SO_REUSEPORT) and connected like it. Capped; sockets idle past a timeout are closed when
/// the ring is empty (so no queued datagram can still need them).
/// </summary>
internal sealed class PrioritySocketPool : IDisposable
{
    private readonly AddressFamily _family;
    private readonly DatagramAddress _local;
    private readonly DatagramAddress _remote;
    private readonly int _sendBuffer;
    private readonly long _idleTicks;
    private readonly uint[] _priorities;
    private readonly SafeFdHandle?[] _sockets;
    private readonly int[] _errnos;
    private readonly long[] _lastUsed;
    private readonly PacketSenderOptions _options;
    private readonly string? _netnsId;
    private SafeFileHandle? _netns;
    private int _count;

    internal PrioritySocketPool(PacketSenderOptions options, DatagramAddress local)
    {
        _family = options.AddressFamily;
        _local = local;
        _remote = options.ConnectTo;
        _sendBuffer = options.SendBufferSize;
        _options = options;
        _idleTicks = (long)options.PrioritySocketIdleTimeout.TotalMilliseconds;
        _priorities = new uint[options.MaxPrioritySockets];
        _sockets = new SafeFdHandle?[options.MaxPrioritySockets];
        _errnos = new int[options.MaxPrioritySockets];
        _lastUsed = new long[options.MaxPrioritySockets];

        // Sockets are made on first use, on whichever thread flushes. A sender created inside a network namespace
        // (Perf.Host's NetworkNamespace.Run) must get its pool sockets there too, or binding its local address fails.
        _netnsId = CurrentNetNs();
        if (_netnsId is not null)
        {
            _netns = File.OpenHandle(NetNsPath);
        }
    }

    private const string NetNsPath = "/proc/thread-self/ns/net";

    // "net:[4026531840]": the calling thread's network namespace, or null where /proc does not say.
    private static string? CurrentNetNs()
    {
        try
        {
            return new FileInfo(NetNsPath).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal int Count => _count;

    /// <summary>
    /// Makes sure <paramref name="priority"/> has a socket, creating it on first use. A priority that cannot have one
    /// is no setup error but the errno its datagrams fail with: EMFILE where all <see cref="PacketSenderOptions.MaxPrioritySockets"/>
    /// serve other priorities, or what creating the socket failed with.
    /// </summary>
    /// <returns>The priority's index in the pool, or -1 with <paramref name="errno"/> set.</returns>
    private int Ensure(uint priority, out int errno)
    {
        errno = 0;
        int i = IndexOf(priority);
        if (i >= 0)
        {
            return i;
        }

        if (_count == _priorities.Length)
        {
            errno = Errno.EMFILE;
            return -1;
        }

        SafeFdHandle socket;
        try
        {
            socket = CreateSocket();
            Prepare(socket);
        }
        catch (PerfSocketException e)
        {
            // The only way setup calls report: taken here, once per new priority, never per datagram.
            errno = e.Errno;
            return -1;
        }

        // A priority this process may not set (EPERM above 6 without CAP_NET_ADMIN/CAP_NET_RAW) is no setup error: its
        // datagrams fail one by one with that errno, as they would with a cmsg.
        _priorities[_count] = priority;
        _sockets[_count] = socket;
        _errnos[_count] = UdpSocket.TrySetInt(socket, Interop.SOL_SOCKET, Interop.SO_PRIORITY, (int)priority);
        _lastUsed[_count] = Environment.TickCount64;
        return _count++;
    }

    private void Prepare(SafeFdHandle socket)
    {
        try
        {
            UdpSocket.SetInt(socket, Interop.SOL_SOCKET, Interop.SO_REUSEPORT, 1, "SO_REUSEPORT");
            UdpSocket.SetBufferSize(socket, send: true, _sendBuffer);
            UdpSocket.ReportDrops(socket, _options); // each pool socket reports its own qdisc drops (ENOBUFS)
            UdpSocket.Bind(socket, _local);
            if (!_remote.IsEmpty)
            {
                UdpSocket.Connect(socket, _remote);
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // A socket keeps the namespace it was created in. Entering the sender's needs CAP_SYS_ADMIN, as creating the sender
    // there did; the flushing thread itself never changes namespace. Its own method: the closure allocates only here.
    private SafeFdHandle CreateSocket()
    {
        if (_netns is null || CurrentNetNs() == _netnsId)
        {
            return UdpSocket.Create(_family);
        }

        AddressFamily family = _family;
        return NamespaceThread.Run(_netns, "the sender's network namespace", () => UdpSocket.Create(family));
    }

    /// <summary>The socket for <paramref name="priority"/>, made on first use; null with the errno its datagrams fail with where it has none.</summary>
    internal SafeFdHandle? Get(uint priority, out int errno)
    {
        int i = Ensure(priority, out errno);
        if (i < 0)
        {
            return null;
        }

        _lastUsed[i] = Environment.TickCount64;
        errno = _errnos[i];
        return _sockets[i]!;
    }

    /// <summary>Closes sockets unused for the idle timeout. Only when nothing is queued.</summary>
    internal void CloseIdle()
    {
        long now = Environment.TickCount64;
        for (int i = _count - 1; i >= 0; i--)
        {
            if (now - _lastUsed[i] >= _idleTicks)
            {
                _sockets[i]!.Dispose();
                _count--;
                _priorities[i] = _priorities[_count];
                _sockets[i] = _sockets[_count];
                _errnos[i] = _errnos[_count];
                _lastUsed[i] = _lastUsed[_count];
                _sockets[_count] = null;
            }
        }
    }

    private int IndexOf(uint priority)
    {
        for (int i = 0; i < _count; i++)
        {
            if (_priorities[i] == priority)
            {
                return i;
            }
        }

        return -1;
    }

    public void Dispose()
    {
        for (int i = 0; i < _count; i++)
        {
            _sockets[i]!.Dispose();
            _sockets[i] = null;
        }

        _count = 0;
        _netns?.Dispose();
        _netns = null;
    }
}
