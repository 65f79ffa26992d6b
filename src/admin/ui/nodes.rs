//! The dashboard's "Cluster nodes" section (issue 13): every node sharing the queue, whether its
//! heartbeat is current, when it last beat and how many destinations it delivers. Shown only in a
//! cluster.

use serde::Serialize;

use super::markup::esc;

/// One node as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    pub name: String,
    pub alive: bool,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_s: f64,
    pub claims: i64,
}

/// The section's HTML; empty on a single node with its local spool.
pub fn section(nodes: &[NodeRow]) -> String {
    if nodes.is_empty() {
        return String::new();
    }
    let rows: String = nodes
        .iter()
        .map(|n| {
            format!(
                "<tr><td>{name}</td><td class=\"{class}\">{state}</td><td class=\"num\">{age:.1} s ago</td>\
                 <td class=\"num\">{claims}</td></tr>",
                name = esc(&n.name),
                class = if n.alive { "ok" } else { "error" },
                state = if n.alive { "alive" } else { "lost" },
                age = n.heartbeat_age_s,
                claims = n.claims,
            )
        })
        .collect();
    format!(
        "<section class=\"nodes\" id=\"nodes\"><h2>Cluster nodes <span class=\"hint\">nodes sharing \
         this queue; a lost node's destinations move to the others once its lease ends</span></h2>\
         <table><thead><tr><th>Node</th><th>State</th><th class=\"num\">Heartbeat</th>\
         <th class=\"num\">Destinations</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_node_shows_nothing_and_names_are_escaped() {
        assert_eq!(section(&[]), "");
        let html = section(&[
            NodeRow {
                name: "n1".into(),
                alive: true,
                heartbeat_age_s: 0.4,
                claims: 3,
            },
            NodeRow {
                name: "<n2>".into(),
                alive: false,
                heartbeat_age_s: 31.0,
                claims: 0,
            },
        ]);
        assert!(html.contains("id=\"nodes\""), "{html}");
        assert!(
            html.contains("<td>n1</td><td class=\"ok\">alive</td>"),
            "{html}"
        );
        assert!(
            html.contains("&lt;n2&gt;</td><td class=\"error\">lost"),
            "{html}"
        );
    }
}
