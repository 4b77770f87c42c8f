using Perf.Batch;
using Perf.Tunnel;

namespace Perf.Gateway;

/// <summary>
/// One queue of the gateway: its own TAP queue, its listening socket (SO_REUSEPORT with the other workers' when there are
/// several) and a sender per outer source port it owns. Both directions run on the async APIs: no thread is held while
/// either waits. A worker's state is its own: workers share nothing but the settings.
/// </summary>
internal sealed partial class GatewayWorker : IDisposable
{
    // Frames from the peer are finished packets: no checksum left to do, no super-packet.
    private static readonly VirtioNetHeader s_finished = new() { GsoType = VirtioNetHeader.GsoNone };

    private readonly GatewaySettings _settings;
    private readonly TapDevice _tap;
    private readonly PacketReceiver _receiver;
    private readonly PacketSender[] _uplinks; // one per outer source port; a frame's inner flow picks one
    private readonly int[] _bucketByDscp = new int[64];
    private readonly System.Net.IPAddress _peerAddress;
    private readonly byte[] _marked = new byte[GatewaySettings.MaxFrame]; // an inner frame whose ECN decapsulation changed
    private readonly int _largestFrame; // the TAP's MTU, its Ethernet header and one VLAN tag: what fits the underlay
    private readonly byte[] _read = new byte[GatewaySettings.MaxRead]; // one read: a frame or a super-packet, behind its header
    private readonly FrameCoalescer? _coalescer; // with TSO (USO) granted: TCP segments (UDP datagrams) from the peer merged into one write
    private int _readLength; // a frame read whose segments did not all fit a ring yet; 0 for none
    private int _nextSegment;
    private long _heldBytes;

    private GatewayWorker(GatewaySettings settings, TapDevice tap, int mtu, PacketReceiver receiver, PacketSender[] uplinks)
    {
        _settings = settings;
        _peerAddress = settings.Peer.ToIPAddress();
        _tap = tap;
        _largestFrame = Math.Min(GatewaySettings.MaxFrame, mtu + 14 + 4);
        if ((tap.Offloads & (TunnelOffloads.Tso4 | TunnelOffloads.Tso6 | TunnelOffloads.Uso4 | TunnelOffloads.Uso6)) != 0)
        {
            _coalescer = new FrameCoalescer(ethernet: true, tap.Offloads);
        }

        _receiver = receiver;
        _uplinks = uplinks;
        Counters = new GatewayCounters(settings.Priorities.Distinct);
        for (int d = 0; d < 64; d++)
        {
            _bucketByDscp[d] = Counters.Bucket(settings.Priorities.Of((byte)d));
        }
    }

    internal GatewayCounters Counters { get; }

    internal TapDevice Tap => _tap;

    internal IReadOnlyList<PacketSender> Uplinks => _uplinks;

    internal bool GsoWritesRefused => _coalescer?.GsoWritesRefused ?? false;

    internal long Received => _receiver.Received;

    /// <summary>
    /// A worker on <paramref name="tap"/> (one queue, which it owns from then on), sending from
    /// <paramref name="sourcePorts"/> (0: an ephemeral port).
    /// </summary>
    internal static GatewayWorker Create(GatewaySettings settings, TapDevice tap, int mtu, int[] sourcePorts)
    {
        PacketReceiver? receiver = null;
        var uplinks = new List<PacketSender>();
        try
        {
            receiver = PacketReceiver.Create(new PacketReceiverOptions
            {
                LocalAddress = settings.Listen,
                MaxDatagramSize = Vxlan.HeaderSize + GatewaySettings.MaxFrame,
                BatchSize = 64,
                ReceiveTrafficClass = true, // the outer ECN, for RFC 6040 decapsulation
                ReceivePriority = false,
                ReceiveBufferSize = 4 << 20,
                Gro = settings.Offloads, // the peer's runs arrive as one buffer; the receiver splits it
                ReusePort = settings.Queues > 1, // the kernel spreads the peer's flows over the workers
            });
            foreach (int port in sourcePorts)
            {
                uplinks.Add(PacketSender.Create(new PacketSenderOptions
                {
                    AddressFamily = settings.Peer.AddressFamily,
                    LocalAddress = new DatagramAddress(settings.Listen.ToIPAddress(), port), // the peer takes any source port (RFC 7348 5)
                    ConnectTo = settings.Peer,
                    PerPacketTrafficClass = true,
                    MaxDatagramSize = Vxlan.HeaderSize + GatewaySettings.MaxFrame, // a frame bigger than the underlay takes is dropped before
                    RingSize = 256,
                    BatchSize = 64,
                    AutoFlush = false,
                }));
            }

            return new GatewayWorker(settings, tap, mtu, receiver, [.. uplinks]);
        }
        catch
        {
            foreach (PacketSender s in uplinks)
            {
                s.Dispose();
            }

            receiver?.Dispose();
            throw;
        }
    }

    /// <summary>Carries frames both ways until <paramref name="stop"/>; then sends what is queued and returns.</summary>
    internal Task RunAsync(CancellationToken stop) => Task.WhenAll(OutboundAsync(stop).AsTask(), InboundAsync(stop).AsTask());

    /// <summary>Disposes the senders, the receiver and the TAP queue.</summary>
    public void Dispose()
    {
        foreach (PacketSender s in _uplinks)
        {
            s.Dispose();
        }

        _receiver.Dispose();
        _tap.Dispose();
    }
}
