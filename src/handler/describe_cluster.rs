//! DescribeCluster (key 60), v0-v2: cluster id, controller and brokers, as the
//! Java admin client asks before falling back to Metadata.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DescribeCluster, 0, 2);

/// `endpoint_type` 1 asks for brokers; 2 (controllers) is for KRaft
/// controllers, which a client only asks of a controller listener.
const ENDPOINT_TYPE_BROKERS: i8 = 1;

pub fn handle(ctx: &RequestContext<'_>, request: DescribeClusterRequest) -> Outcome {
    let image = ctx.broker.metadata.image();
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(image.cluster_id.clone()))
        .with_controller_id(BrokerId(image.controller_id))
        .with_cluster_authorized_operations(i32::MIN)
        .with_endpoint_type(ENDPOINT_TYPE_BROKERS);
    if ctx.api_version >= 1 && request.endpoint_type != ENDPOINT_TYPE_BROKERS {
        response.error_code = kafka_protocol::error::ResponseError::UnsupportedEndpointType.code();
        response.error_message = Some(StrBytes::from_static_str(
            "this listener serves brokers, not controllers",
        ));
        return ctx.respond(&response);
    }
    let advertised = ctx
        .broker
        .config
        .advertised_for(&ctx.connection.listener_name);
    response.brokers = image
        .brokers
        .values()
        .map(|b| {
            // Our own address comes from the listener the client used.
            let (host, port) = if b.node_id == ctx.broker.config.node_id {
                (advertised.host.clone(), i32::from(advertised.port))
            } else {
                (b.host.clone(), b.port)
            };
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(host))
                .with_port(port)
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    ctx.respond(&response)
}
