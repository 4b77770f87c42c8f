using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Perf.Batch;

namespace Perf.Bench;

/// <summary>
/// One awaited wake-up per datagram: a receive that has to wait (nothing queued), then a datagram sent to it over
/// loopback, then the await. Perf's readiness thread (<see cref="PacketReceiver.ReceiveAsync"/>) beside the runtime's
/// own socket engine (<see cref="Socket.ReceiveAsync(Memory{byte}, SocketFlags, CancellationToken)"/>) doing the same;
/// both should allocate nothing per await.
/// </summary>
[MemoryDiagnoser]
public class AsyncBenchmarks
{
    private const int Ops = 256;

    private PacketReceiver _rx = null!;
    private PacketSender _toRx = null!;
    private Socket _socket = null!;
    private PacketSender _toSocket = null!;
    private PacketReceiver _forwardIn = null!;
    private PacketSender _toForward = null!;
    private PacketSender _forwardOut = null!;
    private PacketReceiver _forwarded = null!;
    private CancellationTokenSource _stop = null!;
    private Task _forwarding = null!;
    private readonly byte[] _payload = new byte[64];
    private readonly byte[] _buffer = new byte[2048];

    [GlobalSetup]
    public void Setup()
    {
        _rx = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0), ReceivePriority = false });
        _toRx = PacketSender.Create(new PacketSenderOptions { ConnectTo = _rx.LocalAddress });
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _toSocket = PacketSender.Create(new PacketSenderOptions { ConnectTo = new DatagramAddress((IPEndPoint)_socket.LocalEndPoint!) });
        _forwardIn = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0), ReceivePriority = false, ReceiveTrafficClass = true });
        _toForward = PacketSender.Create(new PacketSenderOptions { ConnectTo = _forwardIn.LocalAddress });
        _forwarded = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0), ReceivePriority = false });
        _forwardOut = PacketSender.Create(new PacketSenderOptions { ConnectTo = _forwarded.LocalAddress });
        _stop = new CancellationTokenSource();
        _forwarding = new PacketForwarder(_forwardIn, _forwardOut, map: null, transform: null, ForwardPriorityKey.Dscp).RunAsync(_stop.Token).AsTask();
        int perf = PerfReceiveAsync().AsTask().GetAwaiter().GetResult();
        int runtime = RuntimeReceiveAsync().AsTask().GetAwaiter().GetResult();
        int forwarded = ForwarderRunAsync().AsTask().GetAwaiter().GetResult();
        if (perf != Ops || runtime != Ops || forwarded != Ops)
        {
            throw new InvalidOperationException($"benchmark check: awaited {perf}, {runtime} and {forwarded} of {Ops} receives");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop.Cancel();
        _forwarding.GetAwaiter().GetResult();
        _forwardOut.Dispose();
        _forwarded.Dispose();
        _toForward.Dispose();
        _forwardIn.Dispose();
        _toSocket.Dispose();
        _socket.Dispose();
        _toRx.Dispose();
        _rx.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public ValueTask<int> PerfReceiveAsync() => PingAsync(_rx, _toRx);

    [Benchmark(OperationsPerInvoke = Ops)]
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> RuntimeReceiveAsync()
    {
        int received = 0;
        for (int i = 0; i < Ops; i++)
        {
            ValueTask<int> receive = _socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None);
            _toSocket.TryEnqueue(_payload, 0);
            _toSocket.Flush();
            received += await receive.ConfigureAwait(false) > 0 ? 1 : 0;
        }

        return received;
    }

    /// <summary>The same through a <see cref="PacketForwarder.RunAsync"/> between: two awaited wake-ups per datagram.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public ValueTask<int> ForwarderRunAsync() => PingAsync(_forwarded, _toForward);

    // Ops times: a receive that must wait, a datagram toward it, the await.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> PingAsync(PacketReceiver rx, PacketSender toward)
    {
        int received = 0;
        for (int i = 0; i < Ops; i++)
        {
            ValueTask<int> receive = rx.ReceiveAsync();
            toward.TryEnqueue(_payload, 0);
            toward.Flush();
            received += await receive.ConfigureAwait(false);
        }

        return received;
    }
}
