using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// The library's one readiness thread: an epoll set in which every async wait of every sender, receiver and forwarder
/// is a one-shot registration. A wait costs no thread while it lasts; when the kernel reports the socket ready this
/// thread completes the waiter, whose continuation runs on the thread pool.
/// </summary>
/// <remarks>
/// Registrations are keyed by fd number: epoll allows one per open file, and a sender and a receiver may wait on the
/// same socket in both directions. Closing an fd removes it from the set, so a registration left behind by a closed
/// socket is simply re-added when the number is reused (ENOENT/EEXIST are handled as such).
/// </remarks>
internal sealed unsafe class ReadinessReactor
{
    private const int MaxEvents = 64;

    private static ReadinessReactor? s_instance;
    private static readonly object s_createLock = new();

    private readonly int _epoll;
    private Registration?[] _byFd = new Registration?[256];
    private readonly object _growLock = new();

    private ReadinessReactor()
    {
        _epoll = Interop.Sys.EpollCreate1(Interop.EPOLL_CLOEXEC);
        if (_epoll < 0)
        {
            ThrowHelper.ThrowSocket("epoll_create1", Marshal.GetLastPInvokeError());
        }

        // Process lifetime: the epoll fd and this thread live as long as the library is loaded.
        var thread = new Thread(Loop) { IsBackground = true, Name = "Perf readiness" };
        thread.UnsafeStart();
    }

    internal static ReadinessReactor Instance
    {
        get
        {
            ReadinessReactor? r = Volatile.Read(ref s_instance);
            if (r is not null)
            {
                return r;
            }

            lock (s_createLock)
            {
                return s_instance ??= new ReadinessReactor();
            }
        }
    }

    /// <summary>Arms a one-shot wait of <paramref name="waiter"/> for <paramref name="fd"/> readable or writable.</summary>
    internal void Arm(int fd, ReadinessWaiter waiter, bool write)
    {
        Registration r = Get(fd);
        lock (r)
        {
            if (write)
            {
                r.Out = waiter;
            }
            else
            {
                r.In = waiter;
            }

            Update(fd, r);
        }
    }

    /// <summary>Forgets <paramref name="waiter"/>'s wait (it completed otherwise); a later event for it finds nobody.</summary>
    internal void Disarm(int fd, ReadinessWaiter waiter)
    {
        Registration? r = (uint)fd < (uint)_byFd.Length ? Volatile.Read(ref _byFd[fd]) : null;
        if (r is null)
        {
            return;
        }

        lock (r)
        {
            if (r.In == waiter)
            {
                r.In = null;
            }

            if (r.Out == waiter)
            {
                r.Out = null;
            }
        }
    }

    private Registration Get(int fd)
    {
        Registration?[] table = Volatile.Read(ref _byFd);
        if ((uint)fd < (uint)table.Length && Volatile.Read(ref table[fd]) is { } existing)
        {
            return existing;
        }

        lock (_growLock)
        {
            table = _byFd;
            if (fd >= table.Length)
            {
                Array.Resize(ref table, Math.Max(fd + 1, table.Length * 2));
                Volatile.Write(ref _byFd, table);
            }

            return table[fd] ??= new Registration();
        }
    }

    // Holds the registration's lock.
    private void Update(int fd, Registration r)
    {
        uint events = (r.In is null ? 0 : Interop.EPOLLIN) | (r.Out is null ? 0 : Interop.EPOLLOUT);
        if (events == 0)
        {
            return; // one-shot: nothing armed, nothing to do
        }

        byte* ev = stackalloc byte[16];
        *(uint*)ev = events | Interop.EPOLLONESHOT;
        *(ulong*)(ev + Interop.EpollDataOffset) = (ulong)fd;
        int op = r.Added ? Interop.EPOLL_CTL_MOD : Interop.EPOLL_CTL_ADD;
        if (Interop.Sys.EpollCtl(_epoll, op, fd, ev) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // The fd was closed and its number reused (ENOENT), or added by an earlier owner of the number (EEXIST).
            op = errno == Errno.ENOENT ? Interop.EPOLL_CTL_ADD : errno == Errno.EEXIST ? Interop.EPOLL_CTL_MOD : 0;
            if (op == 0 || Interop.Sys.EpollCtl(_epoll, op, fd, ev) != 0)
            {
                ThrowHelper.ThrowSocket("epoll_ctl", op == 0 ? errno : Marshal.GetLastPInvokeError());
            }
        }

        r.Added = true;
    }

    private void Loop()
    {
        int size = Interop.EpollEventSize;
        byte* events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * size));
        while (true)
        {
            int n = Interop.Sys.EpollWait(_epoll, events, MaxEvents, -1);
            for (int i = 0; i < n; i++)
            {
                byte* ev = events + (i * size);
                Dispatch((int)*(ulong*)(ev + Interop.EpollDataOffset), *(uint*)ev);
            }
        }
    }

    private void Dispatch(int fd, uint events)
    {
        Registration? r = Volatile.Read(ref _byFd)[fd];
        if (r is null)
        {
            return;
        }

        ReadinessWaiter? readable = null;
        ReadinessWaiter? writable = null;
        const uint Failure = Interop.EPOLLERR | Interop.EPOLLHUP; // the retried syscall reports the error
        lock (r)
        {
            if ((events & (Interop.EPOLLIN | Failure)) != 0)
            {
                (readable, r.In) = (r.In, null);
            }

            if ((events & (Interop.EPOLLOUT | Failure)) != 0)
            {
                (writable, r.Out) = (r.Out, null);
            }

            try
            {
                Update(fd, r); // the other direction's wait, if any, is re-armed
            }
            catch (PerfSocketException)
            {
                // The fd went away meanwhile; its waiter's own timeout or disposal ends it.
            }
        }

        readable?.Signal();
        writable?.Signal();
    }

    private sealed class Registration
    {
        internal ReadinessWaiter? In;
        internal ReadinessWaiter? Out;
        internal bool Added;
    }
}
