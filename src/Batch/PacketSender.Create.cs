using System.Net.Sockets;

namespace Perf.Batch;

// Creation: probing the kernel, resolving the strategy, then building the parts (SenderFactory) and joining them.
public sealed partial class PacketSender
{
    /// <summary>
    /// Creates a sender: probes the kernel's priority capabilities, opens and binds (and optionally connects) a
    /// non-blocking UDP socket, and allocates the slot ring.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range or inconsistent.</exception>
    /// <exception cref="PerfSocketException">A setup call failed, or the kernel lacks the per-packet SO_PRIORITY cmsg (before 6.14).</exception>
    public static PacketSender Create(PacketSenderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        PriorityCapabilities caps = CapabilityProbe.Probe();
        PriorityStrategy strategy = StrategyResolver.Resolve(options, caps, out string reason);
        caps = caps.WithStrategy(strategy, reason);

        int maxSegments = SenderFactory.ResolveSegmentation(options, caps);
        PriorityPath path = StrategyResolver.CreatePath(strategy, options);
        SafeFdHandle? socket = null;
        SlotRing? ring = null;
        SlotQueue queue = new(options.RingSize);
        SendPlanner? planner = null;
        SendBackend? backend = null;
        try
        {
            socket = SenderFactory.OpenSocket(options, path);
            DatagramAddress local = UdpSocket.GetLocalAddress(socket);
            path.AfterBind(local);
            ring = new SlotRing(options.RingSize, options.MaxDatagramSize, path.CmsgType,
                options.PerPacketTrafficClass ? (options.AddressFamily == AddressFamily.InterNetworkV6 ? Interop.AF_INET6 : Interop.AF_INET) : 0, options.TxTime);
            backend = SenderFactory.CreateBackend(socket, options);
            // The backend that runs declares its own limits (io_uring zero copy caps runs by segments and pages).
            int segments = backend.MaxSegments > 0 ? Math.Min(maxSegments, backend.MaxSegments) : maxSegments;
            planner = new SendPlanner(ring, queue, options.BatchSize, priorityCmsg: path.CmsgType != 0, path.SocketGroups, reorder: !options.StrictPriorityOrder,
                segments, SenderFactory.MaxSegmentSize(socket, options), backend.MaxPages);
            var failures = new FailureLog(options.FailureLogCapacity);
            TimestampRecorder? timestamps = options.TxTimestamps
                ? new TimestampRecorder(options.TxTimestampCapacity, options.TxTimestampTimeout, options.ReportQdiscDrops)
                : null;
            var loop = new SendLoop(ring, queue, planner, path, backend, socket, options.BatchSize, failures, timestamps);
            return new PacketSender(options, socket, ring, queue, loop, failures, timestamps, caps, local);
        }
        catch
        {
            // Reverse order of acquisition.
            backend?.Dispose();
            planner?.Dispose();
            ring?.Dispose();
            socket?.Dispose();
            path.Dispose();
            throw;
        }
    }
}
