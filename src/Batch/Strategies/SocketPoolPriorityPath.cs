namespace Perf.Batch;

/// <summary>One socket per distinct priority (<see cref="PrioritySocketPool"/>); each group goes out on its priority's.</summary>
internal sealed class SocketPoolPriorityPath(PacketSenderOptions options) : PriorityPath
{
    private PrioritySocketPool? _pool;

    internal override bool SocketGroups => true;

    internal override int Sockets => _pool?.Count ?? 0;

    // Every priority's socket binds the same local address and port, which needs SO_REUSEPORT on all of them.
    internal override void BeforeBind(SafeFdHandle socket) =>
        UdpSocket.SetInt(socket, Interop.SOL_SOCKET, Interop.SO_REUSEPORT, 1, "SO_REUSEPORT");

    internal override void AfterBind(DatagramAddress local) => _pool = new PrioritySocketPool(options, local);

    // The priority's socket is made when its first group is sent; one it cannot have fails that group's datagrams.
    internal override SafeFdHandle BeforeGroup(SafeFdHandle own, uint priority, out int errno) => _pool!.Get(priority, out errno) ?? own;

    internal override void Idle() => _pool?.CloseIdle();

    public override void Dispose()
    {
        _pool?.Dispose();
        base.Dispose();
    }
}
