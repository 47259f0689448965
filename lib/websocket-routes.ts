import { Validations } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { RouteDefinition } from '../protocol/routes.js';
import { acknowledgeControl } from './policy-validation.js';

export interface WebSocketRoutesProps {
  readonly api: apigwv2.WebSocketApi;
  /** The route table. */
  readonly routes: readonly RouteDefinition[];
  /** Each route's function, by route table id. */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** The `$connect` REQUEST authorizer's function; the token comes from `?token=`. */
  readonly authorizer: lambda.IFunction;
}

/**
 * The routes of the route table on `api`: a Lambda integration each, a route response where
 * the handler replies, and the authorizer on `$connect`. The routes are the API's children
 * (as `addRoute` makes them), so their logical ids do not depend on this construct.
 */
export class WebSocketRoutes extends Construct {
  readonly routes: Readonly<Record<string, apigwv2.WebSocketRoute>>;

  constructor(scope: Construct, id: string, props: WebSocketRoutesProps) {
    super(scope, id);
    const authorizer = new WebSocketLambdaAuthorizer('Authorizer', props.authorizer, {
      identitySource: ['route.request.querystring.token'],
    });
    const routes: Record<string, apigwv2.WebSocketRoute> = {};
    for (const route of props.routes) {
      const fn = props.functions[route.id];
      if (!fn) throw new Error(`WebSocketRoutes: route ${route.routeKey} has no function ${route.id} (given: ${Object.keys(props.functions).join(', ')})`);
      const isConnect = route.routeKey === '$connect';
      const created = props.api.addRoute(route.routeKey, {
        integration: new WebSocketLambdaIntegration(`${route.id}Integration`, fn),
        authorizer: isConnect ? authorizer : undefined,
        returnResponse: route.returnsReply,
      });
      if (!isConnect) {
        const reason = 'API Gateway WebSocket APIs accept an authorizer on $connect only; every later frame travels on the connection $connect authorized.';
        Validations.of(created).acknowledge({ id: 'AwsSolutions-APIG4', reason });
        acknowledgeControl(created, 'routeAuthorization', reason);
      }
      routes[route.routeKey] = created;
    }
    this.routes = routes;
  }
}
