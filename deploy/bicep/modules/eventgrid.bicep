// One Event Grid subscription on a Key Vault system topic, delivering keyrot's credentials'
// events to keyrot: the Azure Functions `keyrot-events` function (endpointType AzureFunction:
// the Functions host does the validation handshake) or `keyrot serve`'s /events (WebHook,
// with ?key= or Entra-protected delivery). One event per delivery, Event Grid's retry policy,
// and dead-lettering to a blob container with the system topic's identity.
// Deploy with `scope: resourceGroup(<the vault's group>)`.

@description('Name of the vault\'s system topic (modules/systemtopic.bicep) in this resource group.')
param topicName string

@description('Name of the event subscription.')
param subscriptionName string = 'keyrot'

@description('Key Vault secret names keyrot rotates in this vault (keyrot.toml [[credential]] name). Events for other secrets, including keyrot\'s own keyrot-lock-* and keyrot-journal-* bookkeeping, are not delivered. Event Grid allows 25 values in advanced filters.')
@minLength(1)
@maxLength(25)
param credentialNames string[]

@description('Event types delivered to keyrot.')
param eventTypes string[] = [
  'Microsoft.KeyVault.SecretNearExpiry'
  'Microsoft.KeyVault.SecretExpired'
  'Microsoft.KeyVault.SecretNewVersionCreated'
]

@description('Where events go: AzureFunction (functionResourceId) or WebHook (webhookUrl).')
@allowed([
  'AzureFunction'
  'WebHook'
])
param endpointType string

@description('AzureFunction only: resource id of the keyrot-events function (<function app id>/functions/keyrot-events).')
param functionResourceId string = ''

@description('WebHook only: https://<fqdn>/events, with ?key=<KEYROT_SERVE_KEY> when keyrot checks a key.')
@secure()
param webhookUrl string = ''

@description('WebHook only, Entra-protected delivery: the webhook app registration\'s appId or App ID URI (keyrot\'s KEYROT_SERVE_AUDIENCE). Empty: no Entra token.')
param entraAudience string = ''

@description('WebHook only, Entra-protected delivery: tenant of the webhook app registration.')
param entraTenantId string = tenant().tenantId

@description('Resource id of the storage account that receives dead-lettered events.')
param deadLetterStorageAccountId string

@description('Blob container for dead-lettered events.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered (Event Grid allows 1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an event is retried before it is dead-lettered (Event Grid allows 1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: topicName
}

var functionDestination = {
  endpointType: 'AzureFunction'
  properties: {
    resourceId: functionResourceId
    maxEventsPerBatch: 1
    preferredBatchSizeInKilobytes: 64
  }
}

var entraProperties = empty(entraAudience)
  ? {}
  : {
      azureActiveDirectoryTenantId: entraTenantId
      azureActiveDirectoryApplicationIdOrUri: entraAudience
    }

var webhookDestination = {
  endpointType: 'WebHook'
  properties: union(
    {
      endpointUrl: webhookUrl
      maxEventsPerBatch: 1
      preferredBatchSizeInKilobytes: 64
    },
    entraProperties
  )
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: subscriptionName
  properties: {
    destination: endpointType == 'AzureFunction' ? functionDestination : webhookDestination
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: eventTypes
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'subject'
          values: credentialNames
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}
