using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

/// <summary>The contract, on the sendmmsg backend.</summary>
public sealed class SendmmsgSenderTests : SenderContractTests
{
    protected override SendBackendKind Backend => SendBackendKind.Sendmmsg;

    protected override SendBackendKind ExpectedKind => SendBackendKind.Sendmmsg;
}

/// <summary>The contract, on the io_uring backend.</summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
public sealed class IoUringSenderTests : SenderContractTests
{
    protected override SendBackendKind Backend => SendBackendKind.IoUring;

    protected override SendBackendKind ExpectedKind => SendBackendKind.IoUring;
}

/// <summary>
/// The contract with SocketPerPriority forced, as Auto picks it on every kernel before 6.14: a flush groups datagrams by
/// priority, one socket each, so order holds within each priority.
/// </summary>
public sealed class SocketPerPrioritySenderTests : SenderContractTests
{
    protected override SendBackendKind Backend => SendBackendKind.Sendmmsg;

    protected override SendBackendKind ExpectedKind => SendBackendKind.Sendmmsg;

    protected override PriorityStrategy Strategy => PriorityStrategy.SocketPerPriority;
}

/// <summary>The contract under Auto, which picks sendmmsg for plain sends (the faster backend here).</summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
public sealed class AutoSenderTests : SenderContractTests
{
    protected override SendBackendKind Backend => SendBackendKind.Auto;

    protected override SendBackendKind ExpectedKind => SendBackendKind.Sendmmsg; // plain sends: the faster backend
}
