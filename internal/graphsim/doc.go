// Package graphsim simulates the part of Microsoft Graph's calls API that a
// calling bot uses, and the callbacks Graph sends it, so that the bot, the
// commsops pipeline and their tests can meet Graph's worst case without a
// tenant.
//
// A [Simulator] serves Graph's routes under /v1.0 and /beta (create, answer,
// reject and delete a call, and every action that returns a commsOperation),
// walks each operation's statuses through commsNotifications callbacks POSTed
// to the call's callbackUri, signs each callback with an RS256 bearer JWT
// whose keys it publishes at /.well-known/openid-configuration, redelivers
// callbacks not answered 2xx, and injects Graph's observed faults on demand
// ([Faults]): the race, duplicates, reordering, changeType deleted, casing
// variants, array resourceData, null operation ids, several resources in one
// callback, a missing final status and delays. Its control API under
// /graphsim/v1 rotates the signing key and tells the ground truth of a call.
//
// With a seed, ids and fault decisions are drawn from a seeded generator per
// call, so the same requests in the same order give the same ids and faults.
package graphsim
