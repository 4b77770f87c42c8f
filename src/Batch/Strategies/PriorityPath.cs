namespace Perf.Batch;

/// <summary>
/// How one sender gives each datagram its priority: one internal type per <see cref="PriorityStrategy"/>, chosen once by
/// the resolver (<see cref="StrategyResolver"/>). It says what each slot's cmsg carries, how a flush groups, and what runs before
/// a group is sent; the sender and the planner ask it and never look at the strategy's name.
/// </summary>
internal abstract class PriorityPath : IDisposable
{

    /// <summary>The SOL_SOCKET cmsg type each slot carries its priority in (SO_PRIORITY, SO_MARK), or 0 for none.</summary>
    internal virtual int CmsgType => 0;

    /// <summary>Whether the socket carries the priority, so a flush sends one group (one call or more) per priority.</summary>
    internal virtual bool SocketGroups => false;

    /// <summary>Sockets this path opened besides the sender's own (SocketPerPriority).</summary>
    internal virtual int Sockets => 0;

    /// <summary>setsockopt(SO_PRIORITY) calls made so far (SetsockoptPerRun).</summary>
    internal virtual long SetsockoptCalls => 0;

    /// <summary>Before the sender's socket is bound (SocketPerPriority: SO_REUSEPORT, so its sockets share the address).</summary>
    internal virtual void BeforeBind(SafeFdHandle socket)
    {
    }

    /// <summary>Once the sender's socket is bound to <paramref name="local"/>.</summary>
    internal virtual void AfterBind(DatagramAddress local)
    {
    }

    /// <summary>
    /// Before a group of <paramref name="priority"/> is sent: the socket it goes out on, with the priority in place. A
    /// priority that cannot be set gives the errno each of the group's datagrams fails with.
    /// </summary>
    internal virtual SafeFdHandle BeforeGroup(SafeFdHandle own, uint priority, out int errno)
    {
        errno = 0;
        return own;
    }

    /// <summary>The ring is empty: a moment to let go of what is idle.</summary>
    internal virtual void Idle()
    {
    }

    public virtual void Dispose()
    {
    }
}
