using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Backends;
using Perf.Tests.Infrastructure;
using Perf.Uring;

namespace Perf.Tests.Uring;

/// <summary>io_uring variants, each a round trip with every priority verified at the receiver, and the unavailable path.</summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed class UringBackendTests
{
    public static TheoryData<string> Variants => new() { "sqpoll", "unregistered-fd", "single-issuer", "zerocopy-1200", "zerocopy-64" };

    [Theory]
    [MemberData(nameof(Variants))]
    public void RoundTripWithPrioritiesVerified(string variant)
    {
        Assert.SkipWhen(UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);
        IoUringOptions uring = variant switch
        {
            "sqpoll" => new IoUringOptions { SqPoll = true, SqPollIdleMs = 50 },
            "unregistered-fd" => new IoUringOptions { RegisteredFile = false },
            "single-issuer" => new IoUringOptions { SingleIssuer = true },
            _ => new IoUringOptions { ZeroCopy = true },
        };
        int size = variant == "zerocopy-1200" ? 1200 : 64;
        const int Count = 20_000;
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(rx, Count, _ => size);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            Backend = SendBackendKind.IoUring,
            IoUring = uring,
            ConnectTo = rx.LocalAddress,
            MaxDatagramSize = 1472,
            BatchSize = 64,
        });
        Assert.Equal(SendBackendKind.IoUring, tx.BackendKind);

        SenderContractTests.SendAll(tx, collector, Count, seq => (uint)(seq % 7), _ => size, dest: null);

        Assert.True(collector.WaitFor(Count, TimeSpan.FromSeconds(20)), "received " + collector.Received);
        Assert.Empty(collector.Errors);
        collector.AssertOrder(tx, Count, seq => (uint)(seq % 7));
        Assert.Equal(Count, tx.Stats.Sent);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(1200)]
    public void ZeroCopyGsoRunsOfGroupedSlotsArriveIntact(int size)
    {
        // SENDMSG_ZC with a GSO run of many non-contiguous iovecs (slots grouped per priority) once duplicated and lost
        // datagrams here; the sender caps such runs at 16 segments. Every datagram must arrive once, with its priority.
        Assert.SkipWhen(UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);
        PriorityView.Require();
        const int PerRound = 1024;
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            Backend = SendBackendKind.IoUring,
            IoUring = new IoUringOptions { ZeroCopy = true },
            PriorityStrategy = PriorityStrategy.SocketPerPriority,
            Segmentation = SegmentationMode.Auto,
            BatchSize = 64,
            RingSize = PerRound,
            MaxDatagramSize = 2048,
        });
        byte[] buf = new byte[size];
        var seen = new int[PerRound];
        for (int round = 0; round < 3; round++)
        {
            DatagramAddress to = rx.LocalAddress;
            for (int i = 0; i < PerRound; i++)
            {
                BitConverter.TryWriteBytes(buf, i);
                Assert.True(tx.TryEnqueue(buf, (uint)(i % 7), in to), "ring full at " + i);
            }

            Assert.True(tx.Flush().Completed);
            Array.Clear(seen);
            int got = 0;
            while (got < PerRound && rx.Receive(2000) > 0)
            {
                for (int k = 0; k < rx.Count; k++, got++)
                {
                    int id = BitConverter.ToInt32(rx[k].Payload);
                    Assert.InRange(id, 0, PerRound - 1);
                    seen[id]++;
                    Assert.Equal((uint)(id % 7), PriorityView.Of(rx[k]));
                }
            }

            Assert.Equal(PerRound, got);
            Assert.All(seen, c => Assert.Equal(1, c));
        }

        Assert.True(tx.Stats.SegmentedMessages > 0, "no GSO run was sent");
    }

    [Fact]
    public void SqesGoUnlinkedWhereTheSendBufferHasRoomAndLinkedUnderBackPressure()
    {
        Assert.SkipWhen(UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // bound, never read
        using PacketSender roomy = PacketSender.Create(new PacketSenderOptions { Backend = SendBackendKind.IoUring, ConnectTo = sink.LocalAddress, AutoFlush = false, Segmentation = SegmentationMode.Off });
        byte[] buf = new byte[64];
        for (int i = 0; i < 640; i++)
        {
            Assert.True(roomy.TryEnqueue(buf, (uint)(i % 7)));
        }

        Assert.True(roomy.Flush().Completed);
        var backend = (Perf.Uring.UringSendBackend)roomy.BackendInstance;
        Assert.Equal(640, backend.UnlinkedSqes); // loopback frees each skb at once: the default buffer never fills
        Assert.Equal(0, backend.LinkedSqes);

        // A 4 KiB buffer (the kernel keeps about 9 KiB) behind a 1 Mbit/s class: most of a batch cannot fit, and goes linked.
        SenderContractTests.SkipUnlessNamespaces();
        using VethPair net = VethPair.CreateShaped("ulink", "1mbit");
        using PacketReceiver rx = net.ReceiverInB();
        using PacketSender tight = net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            Backend = SendBackendKind.IoUring,
            ConnectTo = rx.LocalAddress,
            SendBufferSize = 4096,
            AutoFlush = false,
            Segmentation = SegmentationMode.Off,
            WouldBlockTimeout = TimeSpan.FromSeconds(10),
        }));
        for (int i = 0; i < 128; i++)
        {
            Assert.True(tight.TryEnqueue(new byte[200], (uint)(i % 7)));
        }

        Assert.True(tight.Flush().Completed);
        var shaped = (Perf.Uring.UringSendBackend)tight.BackendInstance;
        Assert.True(shaped.LinkedSqes > 0, "linked " + shaped.LinkedSqes);
        Assert.True(shaped.UnlinkedSqes > 0, "unlinked " + shaped.UnlinkedSqes);
        Assert.Equal(128, tight.Stats.Sent);
    }

    [Fact]
    public void AutoPicksSendmmsgForPlainSendsAndIoUringForWhatOnlyItHas()
    {
        using (PacketSender plain = PacketSender.Create(new PacketSenderOptions()))
        {
            Assert.Equal(SendBackendKind.Sendmmsg, plain.BackendKind); // the faster one for plain sends
        }

        Assert.SkipWhen(UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);
        using PacketSender zc = PacketSender.Create(new PacketSenderOptions { IoUring = new IoUringOptions { ZeroCopy = true } });
        Assert.Equal(SendBackendKind.IoUring, zc.BackendKind);
    }

    [Fact]
    public void UnavailableIoUringFallsBackUnderAutoAndFailsClearlyWhenAskedFor()
    {
        UringBackendProvider.EnsureRegistered();
        UringBackendProvider.SetupFault = Errno.ENOSYS; // as on a kernel without io_uring
        try
        {
            using (PacketSender auto = PacketSender.Create(new PacketSenderOptions { Backend = SendBackendKind.Auto, IoUring = new IoUringOptions { ZeroCopy = true } }))
            {
                Assert.Equal(SendBackendKind.Sendmmsg, auto.BackendKind);
                Assert.Equal("sendmmsg", auto.Backend);
            }

            PerfSocketException e = Assert.Throws<PerfSocketException>(() => PacketSender.Create(new PacketSenderOptions { Backend = SendBackendKind.IoUring }));
            Assert.Equal(Errno.ENOSYS, e.Errno);
            Assert.Contains("io_uring", e.Message);

            UringBackendProvider.SetupFault = Errno.EPERM;
            e = Assert.Throws<PerfSocketException>(() => PacketSender.Create(new PacketSenderOptions { Backend = SendBackendKind.IoUring }));
            Assert.Contains("io_uring_disabled", e.Message);
        }
        finally
        {
            UringBackendProvider.SetupFault = 0;
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FlushFromAnotherThreadWorksWithoutSingleIssuer(bool registeredRing)
    {
        Assert.SkipWhen(UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(rx, 2000, _ => 64);
        // A registered ring fd is the registering thread's alone: the first flushing thread uses it, the others the fd.
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            Backend = SendBackendKind.IoUring,
            ConnectTo = rx.LocalAddress,
            AutoFlush = false,
            RingSize = 1024,
            IoUring = new IoUringOptions { RegisteredRing = registeredRing },
        });
        byte[] buf = new byte[64];
        for (long seq = 0; seq < 2000; seq++)
        {
            TestPayload.Write(buf, seq, (uint)(seq % 7), 64);
            while (!tx.TryEnqueue(buf, (uint)(seq % 7)))
            {
                await Task.Run(() => tx.Flush(), TestContext.Current.CancellationToken); // submit from a pool thread
            }
        }

        await Task.Run(() => tx.Flush(), TestContext.Current.CancellationToken);
        Assert.True(collector.WaitFor(2000, TimeSpan.FromSeconds(10)));
        Assert.Empty(collector.Errors);
    }
}
