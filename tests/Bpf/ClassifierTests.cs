using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using Perf.Batch;
using Perf.Host;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Bpf;

/// <summary>
/// The mark_to_priority classifier, loaded and attached in-process (no clang, no tc): by tcx where the kernel has it
/// (6.6+), as a cls_bpf filter over rtnetlink where it does not; classification checked with HTB's own counters.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed unsafe class ClassifierTests
{
    [Theory]
    [InlineData("tcx")]
    [InlineData("cls_bpf")]
    public void AttachClassifiesExactlyQueriesAndDetaches(string how)
    {
        MarkClassifier.Mechanism mechanism = how == "tcx" ? MarkClassifier.Mechanism.Tcx : MarkClassifier.Mechanism.ClsBpf;
        SkipUnlessRoot();
        using VethPair net = VethPair.Create("cls", quiet: true);
        InstallHtb(net);
        var dest = new DatagramAddress(VethPair.AddressB, 9);
        Assert.False(MarkClassifier.IsAttached(VethPair.DeviceA, net.A.Name));
        Assert.False(MarkClassifier.Check(dest, out string missing, net.A.Name));
        Assert.Contains("NOT attached to " + VethPair.DeviceA, missing);

        AttachBy(mechanism, net);
        MarkClassifier.Attach(VethPair.DeviceA, net.A.Name); // attaching twice changes nothing
        Assert.True(MarkClassifier.IsAttached(VethPair.DeviceA, net.A.Name));
        Assert.True(MarkClassifier.Check(dest, out string present, net.A.Name), present);
        Assert.Contains(mechanism == MarkClassifier.Mechanism.Tcx ? "by tcx" : "by a tc filter", present);
        if (mechanism == MarkClassifier.Mechanism.ClsBpf)
        {
            Assert.Contains("mark_to_priority", net.A.Exec("tc filter show dev " + VethPair.DeviceA + " egress")); // tc sees it as its own
        }

        SendMarked(net, 900);
        Dictionary<string, (long Packets, long Bytes)> counters = net.ClassCounters();
        Assert.Equal(300, counters["1:10"].Packets); // exactly once each: attaching twice did not run it twice
        Assert.Equal(300, counters["1:20"].Packets);
        Assert.Equal(300, counters["1:30"].Packets);

        MarkClassifier.Detach(VethPair.DeviceA, net.A.Name);
        Assert.False(MarkClassifier.IsAttached(VethPair.DeviceA, net.A.Name));
        Assert.DoesNotContain("clsact", net.A.Exec("tc qdisc show dev " + VethPair.DeviceA)); // the empty clsact went too
        MarkClassifier.Detach(VethPair.DeviceA, net.A.Name); // nothing left to remove: no error
    }

    [Fact]
    public void PerfHostRegistersTheRouteCheckThatAutoUses()
    {
        // Perf.Batch finds the check by name when Auto needs it; an application without Perf.Host gets none.
        Assert.IsType<ClassifierCheck>(ClassifierRegistry.Check);
    }

    [Fact]
    public void AClassifierThatTcAttachedIsRecognisedAndRemoved()
    {
        SkipUnlessRoot();
        Assert.SkipUnless(HostTools.HasTool("tc"), "needs tc (iproute2) to attach the classifier the old way");
        using VethPair net = VethPair.Create("clstc", quiet: true);
        InstallHtb(net);
        // tc takes the program from a bpffs pin. `ip netns exec` mounts its own /sys, so the pin goes on a bpffs of the
        // test's own, under /tmp, which the namespace still sees.
        string fs = Path.Combine(Path.GetTempPath(), "perf-bpffs-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(fs);
        HostTools.Sh("mount -t bpf bpf " + fs);
        string pin = Path.Combine(fs, "mark_to_priority");
        try
        {
            // What an administrator (or perfgen before) did: tc attaches the program, here at a preference of its own.
            using (SafeFdHandle program = ClassifierProgram.Load(ClassifierProgram.MarkToPriority, "mark_to_priorit"))
            {
                Pin(program, pin);
            }

            net.A.Exec("tc qdisc add dev " + VethPair.DeviceA + " clsact");
            net.A.Exec("tc filter add dev " + VethPair.DeviceA + " egress pref 77 bpf direct-action object-pinned " + pin);
            Assert.True(MarkClassifier.IsAttached(VethPair.DeviceA, net.A.Name));
            MarkClassifier.Attach(VethPair.DeviceA, net.A.Name); // recognised: not attached a second time
            SendMarked(net, 300);
            Assert.Equal(100, net.ClassCounters()["1:10"].Packets);

            MarkClassifier.Detach(VethPair.DeviceA, net.A.Name);
            Assert.False(MarkClassifier.IsAttached(VethPair.DeviceA, net.A.Name));
            Assert.DoesNotContain("pref 77", net.A.Exec("tc filter show dev " + VethPair.DeviceA + " egress"));
        }
        finally
        {
            HostTools.Run("umount", [fs], TimeSpan.FromSeconds(10));
            Directory.Delete(fs);
        }
    }

    [Fact]
    public void ADeviceThatDoesNotExistIsENODEVAndABadNameIsRefused()
    {
        SkipUnlessRoot();
        PerfSocketException e = Assert.Throws<PerfSocketException>(() => MarkClassifier.Attach("nosuchdev0"));
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.Contains("nosuchdev0", e.Message);
        Assert.Throws<PerfSocketException>(() => MarkClassifier.IsAttached("nosuchdev0"));
        Assert.Throws<ArgumentException>(() => MarkClassifier.Attach("bad name!"));
        Assert.Throws<ArgumentException>(() => MarkClassifier.Attach("lo", "bad ns!"));
    }

    [Fact]
    public void EgressDeviceComesFromTheRoutingTable()
    {
        Assert.Equal("lo", MarkClassifier.EgressDevice(new DatagramAddress(IPAddress.Loopback, 9)));
        SkipUnlessRoot();
        using VethPair net = VethPair.Create("route");
        Assert.Equal(VethPair.DeviceA, MarkClassifier.EgressDevice(new DatagramAddress(VethPair.AddressB, 9), net.A.Name));
        Assert.Null(MarkClassifier.EgressDevice(new DatagramAddress(IPAddress.Parse("203.0.113.9"), 9), net.A.Name)); // no default route there
    }

    [Fact]
    public void AutoPicksMarkAndBpfWhereTheClassifierIsOnTheRouteElseSocketPerPriority()
    {
        SkipUnlessRoot();
        using VethPair net = VethPair.Create("auto", quiet: true);
        var dest = new DatagramAddress(VethPair.AddressB, 9);
        CapabilityProbe.TestOverride = p => p > 6 ? 0 : Errno.EINVAL; // a kernel before 6.14, a privileged process
        try
        {
            PacketSender Create() => net.A.Run(() =>
            {
                CapabilityProbe.TestOverride = p => p > 6 ? 0 : Errno.EINVAL; // the seam is per thread
                try
                {
                    return PacketSender.Create(new PacketSenderOptions { ConnectTo = dest });
                }
                finally
                {
                    CapabilityProbe.TestOverride = null;
                }
            });

            using (PacketSender without = Create())
            {
                Assert.Equal(PriorityStrategy.SocketPerPriority, without.PriorityStrategy);
                Assert.Contains("NOT attached to " + VethPair.DeviceA, without.Capabilities.StrategyReason);
            }

            MarkClassifier.Attach(VethPair.DeviceA, net.A.Name);
            using PacketSender with = Create();
            Assert.Equal(PriorityStrategy.MarkAndBpf, with.PriorityStrategy);
            Assert.Contains("is attached to " + VethPair.DeviceA, with.Capabilities.StrategyReason);
            Assert.Contains("6.14", with.Capabilities.StrategyReason);
        }
        finally
        {
            CapabilityProbe.TestOverride = null;
        }
    }

    // clang's output, not the kernel's: no kernel decides it, so the host alone checks it.
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public void TheInstructionsAreWhatClangMakesOfTheCSources()
    {
        string? clang = FindClang();
        Assert.SkipWhen(clang is null, "clang is not installed: the C sources document the instructions and nothing here compiles them");
        foreach ((string source, Perf.Host.HostInterop.BpfInsn[] program) in (ReadOnlySpan<(string, Perf.Host.HostInterop.BpfInsn[])>)[
            ("mark_to_priority", ClassifierProgram.MarkToPriority), ("priority_to_mark", ClassifierProgram.PriorityToMark)])
        {
            string obj = Path.Combine(Path.GetTempPath(), "perf-" + source + "-" + Guid.NewGuid().ToString("N")[..8] + ".o");
            try
            {
                string arch = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
                (int code, string output) = HostTools.Run(clang!, ["-O2", "-target", "bpf", "-I/usr/include/" + arch, "-c", Path.Combine(AppContext.BaseDirectory, "Bpf", source + ".bpf.c"), "-o", obj], TimeSpan.FromSeconds(60));
                Assert.True(code == 0, output);
                Assert.Equal(MemoryMarshal.AsBytes(program.AsSpan()).ToArray(), ElfSection(File.ReadAllBytes(obj), "tc"));
            }
            finally
            {
                File.Delete(obj);
            }
        }
    }

    private static void SkipUnlessRoot()
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
    }

    private static void InstallHtb(VethPair net)
    {
        net.A.Exec("tc qdisc add dev " + VethPair.DeviceA + " root handle 1: htb");
        foreach (string c in (string[])["1:10", "1:20", "1:30"])
        {
            net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid " + c + " htb rate 1gbit");
        }
    }

    private static void AttachBy(MarkClassifier.Mechanism mechanism, VethPair net)
    {
        MarkClassifier.Mechanism before = MarkClassifier.ForceMechanism;
        try
        {
            net.A.Run(() =>
            {
                MarkClassifier.ForceMechanism = mechanism; // the seam is per thread: set it where the attach runs
                try
                {
                    MarkClassifier.Attach(VethPair.DeviceA);
                }
                catch (PerfSocketException e) when (mechanism == MarkClassifier.Mechanism.Tcx && e.Errno == Errno.EINVAL)
                {
                    Assert.Skip("this kernel has no tcx (it came with Linux 6.6); the cls_bpf case covers it: " + e.Message);
                }
                finally
                {
                    MarkClassifier.ForceMechanism = MarkClassifier.Mechanism.Auto;
                }

                return 0;
            });
        }
        finally
        {
            MarkClassifier.ForceMechanism = before;
        }
    }

    // 1:10, 1:20, 1:30 in turn, each datagram's class in its SO_MARK cmsg (MarkAndBpf).
    private static void SendMarked(VethPair net, int count)
    {
        using PacketReceiver rx = net.ReceiverInB();
        using PacketSender tx = net.A.Run(() => PacketSender.Create(new PacketSenderOptions { PriorityStrategy = PriorityStrategy.MarkAndBpf, ConnectTo = rx.LocalAddress }));
        uint[] classes = [0x10010, 0x10020, 0x10030];
        for (int i = 0; i < count; i++)
        {
            while (!tx.TryEnqueue(new byte[100], classes[i % 3]))
            {
                tx.Flush();
            }
        }

        Assert.True(tx.Flush().Completed);
    }

    private static void Pin(SafeFdHandle program, string path)
    {
        byte[] name = System.Text.Encoding.ASCII.GetBytes(path + "\0");
        fixed (byte* p = name)
        {
            Perf.Host.HostInterop.BpfObjPinAttr attr = default;
            attr.Pathname = (ulong)p;
            attr.BpfFd = (uint)program.Fd;
            Assert.True(Perf.Host.HostInterop.Bpf.Call(Perf.Host.HostInterop.Bpf.BPF_OBJ_PIN, &attr, sizeof(Perf.Host.HostInterop.BpfObjPinAttr)) == 0, "BPF_OBJ_PIN errno " + Marshal.GetLastPInvokeError());
        }
    }

    private static string? FindClang()
    {
        foreach (string name in (string[])["clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14"])
        {
            foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
            {
                if (File.Exists(Path.Combine(dir, name)))
                {
                    return Path.Combine(dir, name);
                }
            }
        }

        return null;
    }

    // The bytes of the named section of a 64-bit little-endian ELF object.
    private static byte[] ElfSection(byte[] elf, string name)
    {
        long shoff = BinaryPrimitives.ReadInt64LittleEndian(elf.AsSpan(0x28));
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(0x3A));
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(0x3C));
        int shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(0x3E));
        long strings = BinaryPrimitives.ReadInt64LittleEndian(elf.AsSpan((int)(shoff + (shstrndx * shentsize) + 24)));
        for (int i = 0; i < shnum; i++)
        {
            ReadOnlySpan<byte> sh = elf.AsSpan((int)(shoff + (i * shentsize)), shentsize);
            int nameOffset = BinaryPrimitives.ReadInt32LittleEndian(sh);
            ReadOnlySpan<byte> n = elf.AsSpan((int)strings + nameOffset);
            if (System.Text.Encoding.ASCII.GetString(n[..n.IndexOf((byte)0)]) == name)
            {
                long offset = BinaryPrimitives.ReadInt64LittleEndian(sh[24..]);
                long size = BinaryPrimitives.ReadInt64LittleEndian(sh[32..]);
                return elf.AsSpan((int)offset, (int)size).ToArray();
            }
        }

        throw new InvalidOperationException("no section " + name);
    }
}
